import {
  DeleteCommand,
  type QueryCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { sessionTable } from "../../../lib/table.ts";
import { SessionNotFound, serviceUnavailable } from "../errors.ts";
import { logger } from "../logger.ts";
import { call, cancellationCodes, db, TableName, type TransactItem, transactWrite } from "./client.ts";
import { type Expression, liveOwned, unexpired } from "./conditions.ts";
import { type Actor, type Ended, type EndReason, epochSeconds, tokenKey } from "./items.ts";
import { everyPage } from "./query.ts";
import { readSessionItem } from "./sessions.ts";

// Ending sessions (every delete: one, all of a user, all but one, an eviction). A session ends in
// one write that puts who, why and when into its item (the `ended` marker, which the table's change
// stream carries to the lifecycle events) and, in the same transaction, deletes its registered-token
// item, but only while that item still names this session. The session item itself is deleted right after. Every
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
    for (let i = 0; i < targets.length; i += CONCURRENCY) {
      if (Date.now() > deadline) {
        throw serviceUnavailable(new Error(`ending ${userId}'s sessions: budget spent after ${count}`));
      }
      count += await endSessions(targets.slice(i, i + CONCURRENCY), liveOwned(now, userId), end, now);
    }
  }
  return count;
}

/** Sessions ended in parallel by one "delete all". */
const CONCURRENCY = 10;

/**
 * Ends `targets` that still satisfy `condition`; returns how many it ended. A target whose condition
 * fails (gone, expired, someone else's) is left alone; a token item that names another session is
 * left alone (the session still ends). A session with a token item ends in a two-part transaction;
 * one without ends by a conditional UpdateItem, which is atomic by itself and costs half the write
 * units of a transaction part.
 */
async function endSessions(
  targets: Target[],
  condition: Expression,
  request: EndRequest,
  now: Date,
): Promise<number> {
  const ended: Ended = { at: now.toISOString(), reason: request.reason, actor: request.actor };
  let count = 0;
  for (let i = 0; i < targets.length; i += CONCURRENCY) {
    const results = await Promise.all(
      targets.slice(i, i + CONCURRENCY).map(async (target) => {
        if (!(await endOne(target, condition, ended, now))) return 0;
        await removeEnded(target.id);
        return 1;
      }),
    );
    count += results.reduce<number>((sum, n) => sum + n, 0);
  }
  return count;
}

/** Marks one session ended (and deletes its token item); false when its condition failed. */
async function endOne(target: Target, condition: Expression, ended: Ended, now: Date): Promise<boolean> {
  const mark = markEnded(target.id, condition, ended, now);
  if (target.tokenDigest !== undefined) {
    try {
      await transactWrite([mark, deleteToken(target.tokenDigest, target.id)]);
      return true;
    } catch (error) {
      const codes = cancellationCodes(error);
      if (codes[0] === "ConditionalCheckFailed") return false;
      if (codes[1] !== "ConditionalCheckFailed") throw error;
      // The token item names another session: end this one alone.
    }
  }
  try {
    await call(() => db.send(new UpdateCommand(mark.Update as UpdateCommandInput)));
    return true;
  } catch (error) {
    if ((error as Error).name === "ConditionalCheckFailedException") return false;
    throw error;
  }
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
