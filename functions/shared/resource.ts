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
  };
}

/** Seed 1's `getAllSessions` embeds the user: the profile given at creation, its `id` the session's user. */
export function withUser(session: Session): SessionResource & { user: Record<string, unknown> } {
  return { ...toResource(session), user: { ...session.profile, id: session.userId } };
}
