import type { Session } from "./store/index.ts";

/** The session resource of CONTRACT section 2, the same in both families. */
export interface SessionResource {
  id: string;
  user_id: string;
  ip_address: string | null;
  user_agent: string | null;
  created_at: string;
  updated_at: string;
  expires_at: string;
  is_active: boolean;
  deactivated_at: string | null;
  /** The last recorded use (section 8), written at most once per touch interval. */
  last_active_at: string;
  /** When the idle clock ends the session; null when idle expiry is off. */
  idle_expires_at: string | null;
}

export function toResource(session: Session): SessionResource {
  return {
    id: session.id,
    user_id: session.userId,
    ip_address: session.ipAddress,
    user_agent: session.userAgent,
    created_at: session.createdAt,
    updated_at: session.updatedAt,
    expires_at: session.expiresAt,
    is_active: session.isActive,
    deactivated_at: session.deactivatedAt,
    last_active_at: session.lastActiveAt,
    idle_expires_at: session.idleExpiresAt,
  };
}

/** The user family's resource: `is_current` marks the session behind the caller's own credential. */
export function toUserResource(
  session: Session,
  currentId: string | undefined,
): SessionResource & { is_current: boolean } {
  return { ...toResource(session), is_current: session.id === currentId };
}

/** Seed 1's `getAllSessions` embeds the user: the profile given at creation, its `id` the session's user. */
export function withUser(session: Session): SessionResource & { user: Record<string, unknown> } {
  return { ...toResource(session), user: { ...session.profile, id: session.userId } };
}
