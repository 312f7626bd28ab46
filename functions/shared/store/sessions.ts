import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { call, conditional, db, TableName } from "./client.ts";
import { liveOwned } from "./conditions.ts";
import { fromItem, gone, type Session, type SessionItem } from "./items.ts";

// Reading and deactivating one session (creating one is create.ts).

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
