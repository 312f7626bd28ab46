import { GetCommand } from "@aws-sdk/lib-dynamodb";
import LRUCache from "../../../lib/shims/lru-cache.ts";
import { call, db, TableName } from "./client.ts";
import { fromItem, gone, type Session, tokenKey } from "./items.ts";
import { readSessionItem } from "./sessions.ts";

// Registered opaque tokens: a `token#<digest>` item names the session the token opens.

/**
 * The live session a registered token opens, strongly consistent; undefined when none. The first
 * lookup in a container reads the token item (keyed by the digest), then the session, which must
 * hold the same digest. The binding is kept (see `tokenSessions`), so a repeated token costs one
 * strongly consistent read of its session: the session item carries the digest, and that read alone
 * decides, as the contract asks.
 */
export async function findSessionByToken(digest: string, now = new Date()): Promise<Session | undefined> {
  const known = tokenSessions.get(digest);
  if (known !== undefined) {
    const session = await sessionHolding(known, digest, now);
    if (session) return session;
    tokenSessions.delete(digest);
  }
  const { Item } = await call(() =>
    db.send(new GetCommand({ TableName, Key: { id: tokenKey(digest) }, ConsistentRead: true })),
  );
  const sessionId = Item?.sessionId;
  if (typeof sessionId !== "string" || !(Item?.expiresAt > now.toISOString())) return undefined;
  const session = await sessionHolding(sessionId, digest, now);
  if (session) tokenSessions.set(digest, sessionId);
  return session;
}

async function sessionHolding(id: string, digest: string, now: Date): Promise<Session | undefined> {
  const item = await readSessionItem(id);
  if (!item || item.tokenDigest !== digest || gone(item, now)) return undefined;
  return fromItem(item);
}

/**
 * Token digest → session id, as this container last confirmed it, least recently used first out. A
 * token item never changes its session, and a session's end removes its token item in the same
 * transaction that marks the session ended (which every read treats as gone), so a session that
 * still holds the digest and is not ended still has its token item. When the kept session is gone or
 * no longer holds the digest, the token item is read again: a token registered anew after its first
 * session ended is found.
 */
const tokenSessions = new LRUCache<string, string>(1000);
