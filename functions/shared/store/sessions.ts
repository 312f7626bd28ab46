import { GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { feedOf } from "../../../lib/table.ts";
import { TokenAlreadyRegistered } from "../errors.ts";
import { call, cancellationCodes, conditional, db, TableName, transactWrite } from "./client.ts";
import { liveOwned } from "./conditions.ts";
import {
  epochSeconds,
  fromItem,
  gone,
  type Session,
  type SessionItem,
  type TokenItem,
  tokenKey,
} from "./items.ts";

// Creating, reading and deactivating one session.

export interface NewSession {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  ipAddress: string | null;
  userAgent: string | null;
  profile: Record<string, unknown> | null;
  /** SHA-256 digest (hex) of a client-supplied token; the token itself is never stored. */
  tokenDigest: string | null;
  /** The admin `sub` that asked for it. */
  createdBy?: string | undefined;
}

export async function createSession(input: NewSession): Promise<Session> {
  const createdAt = input.createdAt.toISOString();
  const expiresAt = input.expiresAt.toISOString();
  const item: SessionItem = {
    id: input.id,
    userId: input.userId,
    feed: feedOf(input.id),
    createdAt,
    updatedAt: createdAt,
    expiresAt,
    ttl: epochSeconds(expiresAt),
    isActive: true,
    ipAddress: input.ipAddress ?? undefined,
    userAgent: input.userAgent ?? undefined,
    profile: input.profile ? JSON.stringify(input.profile) : undefined,
    tokenDigest: input.tokenDigest ?? undefined,
    createdBy: input.createdBy,
  };
  const putSession = {
    TableName,
    Item: item,
    ConditionExpression: "attribute_not_exists(#id)",
    ExpressionAttributeNames: { "#id": "id" },
  };
  if (input.tokenDigest === null) {
    try {
      await call(() => db.send(new PutCommand(putSession)));
    } catch (error) {
      // The SDK retries an attempt that timed out; if the first attempt had written the item, the
      // retry's condition fails on our own session. (A transaction is idempotent by its client
      // request token; a PutItem is not.) 192 random bits never collide, so the item is ours.
      if ((error as Error).name !== "ConditionalCheckFailedException") throw error;
      const written = await readSessionItem(item.id);
      if (written?.userId !== item.userId || written.createdAt !== item.createdAt) throw error;
    }
    return fromItem(item);
  }
  const tokenItem: TokenItem = {
    id: tokenKey(input.tokenDigest),
    sessionId: input.id,
    expiresAt,
    ttl: item.ttl,
  };
  try {
    await transactWrite([
      { Put: putSession },
      {
        Put: {
          TableName,
          Item: tokenItem,
          // A token whose session has expired may be registered again.
          ConditionExpression: "attribute_not_exists(#id) OR #expiresAt <= :now",
          ExpressionAttributeNames: { "#id": "id", "#expiresAt": "expiresAt" },
          ExpressionAttributeValues: { ":now": createdAt },
        },
      },
    ]);
  } catch (error) {
    if (cancellationCodes(error)[1] === "ConditionalCheckFailed") throw new TokenAlreadyRegistered();
    throw error;
  }
  return fromItem(item);
}

/** A session by id, strongly consistent; undefined when absent, expired or being ended. */
export async function getSession(id: string, now = new Date()): Promise<Session | undefined> {
  const item = await readSessionItem(id);
  return item && !gone(item, now) ? fromItem(item) : undefined;
}

/** The raw session item by id, strongly consistent (no expiry judged). */
export async function readSessionItem(id: string): Promise<SessionItem | undefined> {
  const { Item } = await call(() =>
    db.send(new GetCommand({ TableName, Key: { id }, ConsistentRead: true })),
  );
  return Item?.userId === undefined ? undefined : (Item as SessionItem);
}

/**
 * Marks a session inactive. Existence, expiry and (for the user family) ownership are conditions of
 * the write itself; repeating it keeps the first `deactivatedAt` (and writes nothing new).
 */
export async function deactivateSession(
  id: string,
  owner: { ownerId?: string },
  now = new Date(),
): Promise<void> {
  const live = liveOwned(now, owner.ownerId);
  // Who deactivated it (for the lifecycle event); the first one stays, like `deactivatedAt`.
  const by = owner.ownerId === undefined ? "" : ", #deactivatedBy = if_not_exists(#deactivatedBy, :owner)";
  await conditional(() =>
    db.send(
      new UpdateCommand({
        TableName,
        Key: { id },
        ConditionExpression: live.expression,
        UpdateExpression: `SET #isActive = :false, #deactivatedAt = if_not_exists(#deactivatedAt, :now), #updatedAt = if_not_exists(#deactivatedAt, :now)${by}`,
        ExpressionAttributeNames: {
          ...live.names,
          "#isActive": "isActive",
          "#deactivatedAt": "deactivatedAt",
          "#updatedAt": "updatedAt",
          ...(owner.ownerId !== undefined && { "#deactivatedBy": "deactivatedBy" }),
        },
        ExpressionAttributeValues: { ...live.values, ":false": false },
      }),
    ),
  );
}
