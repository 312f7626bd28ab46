// The layout of the sessions table's items and their pure conversions. Nothing here speaks DynamoDB:
// the events function reads the same layout from the table's change stream.

export interface Session {
  id: string;
  userId: string;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  isActive: boolean;
  deactivatedAt: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  /** The optional profile object given at creation (seed 1's `user`). */
  profile: Record<string, unknown> | null;
  /** The last recorded use (creation at first), written at most once per touch interval. */
  lastActiveAt: string;
  /** When the idle clock ends it; null when idle expiry is off. */
  idleExpiresAt: string | null;
}

export type EndReason = "user" | "user_all" | "user_others" | "admin" | "admin_user" | "limit";
export interface Actor {
  type: "user" | "admin" | "system";
  sub?: string;
}
/** Who ended a session, why and when: written into the item by the transaction that ends it. */
export interface Ended {
  at: string;
  reason: EndReason;
  actor: Actor;
}

export interface SessionItem {
  id: string;
  userId: string;
  /** Partition key of the all-sessions index. */
  feed: string;
  createdAt: string;
  updatedAt: string;
  /** The absolute expiry; it never moves. */
  expiresAt: string;
  /** Epoch seconds: DynamoDB's sweeper deletes the item some time (up to days) after it passes. */
  ttl: number;
  isActive: boolean;
  deactivatedAt?: string;
  ipAddress?: string;
  userAgent?: string;
  /** Stored as JSON text: any JSON value survives, whatever DynamoDB's number limits. */
  profile?: string;
  /** SHA-256 digest (hex) of a registered token; the token itself is never stored. */
  tokenDigest?: string;
  /** The admin `sub` that created it. */
  createdBy?: string;
  /** The user `sub` that deactivated it. */
  deactivatedBy?: string;
  /** The last recorded use; absent on items written before the idle clock existed (= createdAt). */
  lastActiveAt?: string;
  /** `lastActiveAt` + the idle window; absent when idle expiry is off. */
  idleExpiresAt?: string;
  /**
   * Present only between the transaction that ends a session (and removes its token item) and the
   * delete of the session item right after. No read, list or token check ever returns such an item.
   */
  ended?: Ended;
}

/**
 * A registered token: `token#<digest>`, naming the session it opens. Its `expiresAt` and `ttl` are
 * the session's absolute expiry: the idle clock moves, and the sweeper must never remove the token
 * item of a session that is still in use.
 */
export interface TokenItem {
  id: string;
  sessionId: string;
  expiresAt: string;
  ttl: number;
}

/**
 * The per-user cap's item, `user#<userId>`: the sessions the user's capped creates have made that may
 * still be live, oldest first. Every capped create rewrites it under a `version` condition, so two
 * creates for one user never both commit from the same view. It names candidates only: whether each
 * is live (active, unexpired by either clock) is read from the session items themselves.
 */
export interface UserItem {
  id: string;
  version: number;
  sessions: { id: string; createdAt: string }[];
  /** The latest absolute expiry among `sessions`: the sweeper removes the item after them. */
  ttl: number;
}
export const userKey = (userId: string) => `user#${userId}`;

// Registered tokens live beside the sessions, keyed by their digest, so a lookup is one strongly
// consistent GetItem that works from the moment the create call answered. `#` never appears in a
// session id, so no session route can address these items.
export const tokenKey = (digest: string) => `token#${digest}`;

/** Whether a table item is a session (other items carry a `#` in their id). */
export function isSessionItem(item: { id?: unknown }): boolean {
  return typeof item.id === "string" && !item.id.includes("#");
}

export const epochSeconds = (iso: string) => Math.ceil(Date.parse(iso) / 1000);

/**
 * Whether a session item can no longer be used or seen: expired by either clock, or ended by a delete
 * in flight. The same rule as `unexpired` in conditions.ts, for items already read.
 */
export function gone(item: Pick<SessionItem, "expiresAt" | "ended" | "idleExpiresAt">, now: Date): boolean {
  const at = now.toISOString();
  return (
    item.ended !== undefined ||
    !(item.expiresAt > at) ||
    (item.idleExpiresAt !== undefined && !(item.idleExpiresAt > at))
  );
}

/** The TTL attribute: the earlier of the two clocks, in epoch seconds. */
export function ttlOf(expiresAt: string, idleExpiresAt: string | undefined): number {
  return epochSeconds(idleExpiresAt !== undefined && idleExpiresAt < expiresAt ? idleExpiresAt : expiresAt);
}

export function fromItem(item: SessionItem): Session {
  return {
    id: item.id,
    userId: item.userId,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
    expiresAt: item.expiresAt,
    isActive: item.isActive,
    deactivatedAt: item.deactivatedAt ?? null,
    ipAddress: item.ipAddress ?? null,
    userAgent: item.userAgent ?? null,
    profile: item.profile ? (JSON.parse(item.profile) as Record<string, unknown>) : null,
    lastActiveAt: item.lastActiveAt ?? item.createdAt,
    idleExpiresAt: item.idleExpiresAt ?? null,
  };
}
