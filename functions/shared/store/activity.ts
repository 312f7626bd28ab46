import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import LRUCache from "../../../lib/shims/lru-cache.ts";
import { lifecycle } from "../config.ts";
import type { LifecycleSettings } from "../lifecycle-settings.ts";
import { logger } from "../logger.ts";
import { db, TableName } from "./client.ts";
import { and, live } from "./conditions.ts";
import { type Session, ttlOf } from "./items.ts";

// Recording use (the idle clock): `lastActiveAt` moves at most once per touch interval per session,
// by one conditional UpdateItem, so a burst of requests costs one write. It is not a change of state:
// `updatedAt` stays and the lifecycle events ignore it.

/**
 * Records a use of `session` (just read, live, by its own credential) at `now`. Returns the session as
 * it stands afterwards. Never throws: a failed condition means another request recorded this use (or
 * the session has just ended, which the next request sees), and a store failure only delays the clock.
 */
export async function recordUse(
  session: Session,
  now = new Date(),
  settings: LifecycleSettings = lifecycle,
): Promise<Session> {
  const threshold = new Date(now.getTime() - settings.touchSeconds * 1000).toISOString();
  if (session.lastActiveAt > threshold) return session;
  // Requests of one function instance already in flight for this session write once between them.
  const tried = attempts.get(session.id);
  if (tried !== undefined && tried > threshold) return session;
  attempts.set(session.id, now.toISOString());

  const lastActiveAt = now.toISOString();
  const idleExpiresAt =
    settings.idleSeconds > 0
      ? new Date(now.getTime() + settings.idleSeconds * 1000).toISOString()
      : undefined;
  const condition = and(live(now), {
    expression: "attribute_not_exists(#lastActiveAt) OR #lastActiveAt <= :threshold",
    names: { "#lastActiveAt": "lastActiveAt" },
    values: { ":threshold": threshold },
  });
  const set = ["#lastActiveAt = :lastActiveAt", "#ttl = :ttl"];
  if (idleExpiresAt !== undefined) set.push("#idleExpiresAt = :idleExpiresAt");
  try {
    await db.send(
      new UpdateCommand({
        TableName,
        Key: { id: session.id },
        ConditionExpression: condition.expression,
        // With the idle clock off, a window left by an earlier setting is dropped.
        UpdateExpression: `SET ${set.join(", ")}${idleExpiresAt === undefined ? " REMOVE #idleExpiresAt" : ""}`,
        ExpressionAttributeNames: {
          ...condition.names,
          "#lastActiveAt": "lastActiveAt",
          "#idleExpiresAt": "idleExpiresAt",
          "#ttl": "ttl",
        },
        ExpressionAttributeValues: {
          ...condition.values,
          ":lastActiveAt": lastActiveAt,
          ":ttl": ttlOf(session.expiresAt, idleExpiresAt),
          ...(idleExpiresAt !== undefined && { ":idleExpiresAt": idleExpiresAt }),
        },
      }),
    );
  } catch (error) {
    if ((error as Error).name !== "ConditionalCheckFailedException") {
      logger.warn("use of a session not recorded", { sessionId: session.id, error: error as Error });
    }
    return session;
  }
  return { ...session, lastActiveAt, idleExpiresAt: idleExpiresAt ?? null };
}

/** Session id → when this instance last tried to record its use, least recently used first out. */
const attempts = new LRUCache<string, string>(1000);
