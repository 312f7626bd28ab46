import { DeleteCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import { sessionTable } from "../../../lib/table.ts";
import { SessionNotFound, serviceUnavailable } from "../errors.ts";
import { logger } from "../logger.ts";
import { call, cancellationCodes, db, TableName, type TransactItem, transactWrite } from "./client.ts";
import { type Expression, liveOwned, unexpired } from "./conditions.ts";
import { type Actor, type Ended, type EndReason, epochSeconds, tokenKey } from "./items.ts";
import { everyPage } from "./query.ts";
import { readSessionItem } from "./sessions.ts";

// Ending sessions (every delete: one, all of a user, all but one, an eviction). A session ends in
// one transaction that writes who, why and when into its item (the `ended` marker, which the table's
// change stream carries to the lifecycle events) and deletes its registered-token item, but only
// while that item still names this session. The session item itself is deleted right after. Every
// reader treats an item with the marker as absent, and the marker also moves the TTL to the moment of
// the end, so an item whose final delete failed is swept like an expired one: no token item is ever
// left without its session (a re-registration would answer 409), and no session is left half-ended.

export interface EndRequest {
  reason: EndReason;
  actor: Actor;
}

interface Target {
  id: string;
  tokenDigest?: string | undefined;
}

/** Ends one live session; with `ownerId`, only the owner's. Throws SessionNotFound otherwise. */
export async function deleteSession(
  id: string,
  owner: { ownerId?: string },
  end: EndRequest,
  now = new Date(),
): Promise<void> {
  // The read only learns which token item to delete (a session's digest never changes); whether the
  // session may be ended is decided by the write's own condition.
  const item = await readSessionItem(id);
  if (!item) throw new SessionNotFound();
  const ended = await endSessions([item], liveOwned(now, owner.ownerId), end, now);
  if (ended === 0) throw new SessionNotFound();
}

/** Work one "delete all" may do before it answers 503 (a retry finishes the job), under the function's timeout. */
export const END_ALL_BUDGET_MS = 6_000;

/**
 * Ends every live session of a user (deactivated ones included; expired ones end by expiry and are
 * not counted), except `exceptId` when given. Not atomic: a session created while it runs may
 * survive. Returns how many sessions it ended.
 */
export async function deleteUserSessions(
  userId: string,
  end: EndRequest & { exceptId?: string | undefined },
  now = new Date(),
): Promise<number> {
  const deadline = Date.now() + END_ALL_BUDGET_MS;
  const filter = unexpired(now);
  const query: QueryCommandInput = {
    TableName,
    IndexName: sessionTable.indexes.byUser.name,
    KeyConditionExpression: "#pk = :pk",
    FilterExpression: filter.expression,
    ProjectionExpression: "#id, #tokenDigest",
    ExpressionAttributeNames: {
      ...filter.names,
      "#pk": sessionTable.indexes.byUser.partitionKey.name,
      "#id": "id",
      "#tokenDigest": "tokenDigest",
    },
    ExpressionAttributeValues: { ...filter.values, ":pk": userId },
  };
  let count = 0;
  for await (const items of everyPage<Target>(query)) {
    const targets = items.filter((item) => item.id !== end.exceptId);
    for (let i = 0; i < targets.length; i += CHUNK) {
      if (Date.now() > deadline) {
        throw serviceUnavailable(new Error(`ending ${userId}'s sessions: budget spent after ${count}`));
      }
      count += await endSessions(targets.slice(i, i + CHUNK), liveOwned(now, userId), end, now);
    }
  }
  return count;
}

/** Sessions per transaction: a marker and a token delete each, within TransactWriteItems' 100 parts. */
const CHUNK = 50;
const DELETE_CONCURRENCY = 10;

/**
 * Ends `targets` that still satisfy `condition`; returns how many it ended. A target whose condition
 * fails (gone, expired, someone else's) is dropped; a token item that names another session is left
 * alone (the session still ends).
 */
async function endSessions(
  targets: Target[],
  condition: Expression,
  request: EndRequest,
  now: Date,
): Promise<number> {
  const ended: Ended = { at: now.toISOString(), reason: request.reason, actor: request.actor };
  let pending = targets.map((target) => ({ ...target, withToken: target.tokenDigest !== undefined }));
  while (pending.length > 0) {
    const parts: { index: number; kind: "session" | "token" }[] = [];
    const items: TransactItem[] = [];
    pending.forEach((target, index) => {
      items.push(markEnded(target.id, condition, ended, now));
      parts.push({ index, kind: "session" });
      if (target.withToken && target.tokenDigest !== undefined) {
        items.push(deleteToken(target.tokenDigest, target.id));
        parts.push({ index, kind: "token" });
      }
    });
    try {
      await transactWrite(items);
      break;
    } catch (error) {
      const codes = cancellationCodes(error);
      if (!codes.includes("ConditionalCheckFailed")) throw error;
      const dropped = new Set<number>();
      const tokenless = new Set<number>();
      codes.forEach((code, i) => {
        const part = parts[i];
        if (code !== "ConditionalCheckFailed" || !part) return;
        (part.kind === "session" ? dropped : tokenless).add(part.index);
      });
      pending = pending
        .map((target, index) => (tokenless.has(index) ? { ...target, withToken: false } : target))
        .filter((_, index) => !dropped.has(index));
    }
  }
  for (let i = 0; i < pending.length; i += DELETE_CONCURRENCY) {
    await Promise.all(pending.slice(i, i + DELETE_CONCURRENCY).map((target) => removeEnded(target.id)));
  }
  return pending.length;
}

export function markEnded(id: string, condition: Expression, ended: Ended, now: Date): TransactItem {
  return {
    Update: {
      TableName,
      Key: { id },
      ConditionExpression: condition.expression,
      UpdateExpression: "SET #ended = :ended, #ttl = :ttl",
      ExpressionAttributeNames: { ...condition.names, "#ended": "ended", "#ttl": "ttl" },
      ExpressionAttributeValues: {
        ...condition.values,
        ":ended": ended,
        ":ttl": epochSeconds(now.toISOString()),
      },
    },
  };
}

export function deleteToken(digest: string, sessionId: string): TransactItem {
  return {
    Delete: {
      TableName,
      Key: { id: tokenKey(digest) },
      // Never another session's token: a token registered again after its session expired names
      // the new session.
      ConditionExpression: "attribute_not_exists(#id) OR #sessionId = :sessionId",
      ExpressionAttributeNames: { "#id": "id", "#sessionId": "sessionId" },
      ExpressionAttributeValues: { ":sessionId": sessionId },
    },
  };
}

/**
 * The final delete of an ended session item. The session has ended already (no reader sees it, its
 * token is gone), so a failure here is logged, not answered: the marker's TTL sweeps the item.
 */
export async function removeEnded(id: string): Promise<void> {
  try {
    await call(() =>
      db.send(
        new DeleteCommand({
          TableName,
          Key: { id },
          ConditionExpression: "attribute_exists(#ended)",
          ExpressionAttributeNames: { "#ended": "ended" },
        }),
      ),
    );
  } catch (error) {
    if ((error as Error).name === "ConditionalCheckFailedException") return;
    logger.warn("ended session left for the TTL sweeper", { sessionId: id, error: error as Error });
  }
}
