import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import LRUCache from "../../lib/shims/lru-cache.ts";
import { FEED, type IndexName, sessionTable } from "../../lib/table.ts";
import { config } from "./config.ts";
import { SessionNotFound, serviceUnavailable, TokenAlreadyRegistered } from "./errors.ts";

// The only module that speaks DynamoDB. One client per cold start; every attempt is bounded so a
// frozen database turns into a 503 well inside the function timeout instead of a hung request.

export const dynamodb = new DynamoDBClient({
  endpoint: config.dynamodbEndpoint,
  maxAttempts: config.dbMaxAttempts,
  requestHandler: new NodeHttpHandler({
    connectionTimeout: config.dbConnectTimeoutMs,
    requestTimeout: config.dbRequestTimeoutMs,
    throwOnRequestTimeout: true,
  }),
});
const db = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });
const TableName = config.tableName;

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
}

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
}

/** A key the next page starts after; opaque to callers (see cursor.ts). */
export type PageKey = Record<string, string>;
export interface PageRequest {
  limit: number;
  offset: number;
  startKey?: PageKey | undefined;
}
export interface Page {
  items: Session[];
  limit: number;
  /** Present only when more items follow. */
  nextKey?: PageKey | undefined;
}

interface SessionItem {
  id: string;
  userId: string;
  feed: string;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  ttl: number;
  isActive: boolean;
  deactivatedAt?: string;
  ipAddress?: string;
  userAgent?: string;
  /** Stored as JSON text: any JSON value survives, whatever DynamoDB's number limits. */
  profile?: string;
  tokenDigest?: string;
}

// Registered tokens live beside the sessions, keyed by their digest, so a lookup is one strongly
// consistent GetItem that works from the moment the create call answered. `#` never appears in a
// session id, so no session route can address these items.
const tokenKey = (digest: string) => `token#${digest}`;

const epochSeconds = (iso: string) => Math.ceil(Date.parse(iso) / 1000);

export async function createSession(input: NewSession): Promise<Session> {
  const createdAt = input.createdAt.toISOString();
  const expiresAt = input.expiresAt.toISOString();
  const item: SessionItem = {
    id: input.id,
    userId: input.userId,
    feed: FEED,
    createdAt,
    updatedAt: createdAt,
    expiresAt,
    ttl: epochSeconds(expiresAt),
    isActive: true,
    ipAddress: input.ipAddress ?? undefined,
    userAgent: input.userAgent ?? undefined,
    profile: input.profile ? JSON.stringify(input.profile) : undefined,
    tokenDigest: input.tokenDigest ?? undefined,
  };
  const putSession = {
    TableName,
    Item: item,
    ConditionExpression: "attribute_not_exists(#id)",
    ExpressionAttributeNames: { "#id": "id" },
  };
  if (input.tokenDigest === null) {
    await call(() => db.send(new PutCommand(putSession)));
  } else {
    const tokenItem = { id: tokenKey(input.tokenDigest), sessionId: input.id, expiresAt, ttl: item.ttl };
    try {
      await call(() =>
        db.send(
          new TransactWriteCommand({
            TransactItems: [
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
            ],
          }),
        ),
      );
    } catch (error) {
      if (cancelledBy(error, 1)) throw new TokenAlreadyRegistered();
      throw error;
    }
  }
  return fromItem(item);
}

/** A session by id, strongly consistent; undefined when absent or expired. */
export async function getSession(id: string, now = new Date()): Promise<Session | undefined> {
  const { Item } = await call(() =>
    db.send(new GetCommand({ TableName, Key: { id }, ConsistentRead: true })),
  );
  const item = Item as SessionItem | undefined;
  if (!item?.userId || expired(item, now)) return undefined;
  return fromItem(item);
}

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
  if (typeof sessionId !== "string" || expired(Item as { expiresAt: string }, now)) return undefined;
  const session = await sessionHolding(sessionId, digest, now);
  if (session) tokenSessions.set(digest, sessionId);
  return session;
}

async function sessionHolding(id: string, digest: string, now: Date): Promise<Session | undefined> {
  const { Item } = await call(() =>
    db.send(new GetCommand({ TableName, Key: { id }, ConsistentRead: true })),
  );
  const item = Item as SessionItem | undefined;
  if (!item?.userId || item.tokenDigest !== digest || expired(item, now)) return undefined;
  return fromItem(item);
}

/**
 * Token digest → session id, as this container last confirmed it, least recently used first out. A
 * token item never changes its session, and both are deleted together, the session first (also in
 * "delete all"), so a session that still holds the digest still has its token item. When the kept
 * session is gone or no longer holds the digest, the token item is read again: a token registered
 * anew after its first session was deleted is found.
 */
const tokenSessions = new LRUCache<string, string>(1000);

export function listSessions(page: PageRequest, now = new Date()): Promise<Page> {
  return queryPage("byCreated", FEED, page, now);
}

export function listUserSessions(userId: string, page: PageRequest, now = new Date()): Promise<Page> {
  return queryPage("byUser", userId, page, now);
}

export async function lastUserSession(userId: string, now = new Date()): Promise<Session | undefined> {
  // No next-page probe: the newest live item is all this route reads.
  const { items } = await queryPage("byUser", userId, { limit: 1, offset: 0 }, now, false);
  return items[0];
}

/** The user's active, unexpired sessions, newest first (every page of the index). */
export async function listActiveUserSessions(userId: string, now = new Date()): Promise<Session[]> {
  const sessions: Session[] = [];
  const query = {
    ...byUserQuery,
    ScanIndexForward: false,
    FilterExpression: "#expiresAt > :now AND #isActive = :true",
    ExpressionAttributeNames: { "#userId": "userId", "#expiresAt": "expiresAt", "#isActive": "isActive" },
    ExpressionAttributeValues: { ":pk": userId, ":now": now.toISOString(), ":true": true },
  };
  for await (const items of everyPage(query))
    sessions.push(...items.map((item) => fromItem(item as SessionItem)));
  return sessions;
}

/**
 * Marks a session inactive. Existence, expiry and (for the user family) ownership are conditions of
 * the write itself; repeating it keeps the first `deactivatedAt`.
 */
export async function deactivateSession(
  id: string,
  owner: { ownerId?: string },
  now = new Date(),
): Promise<void> {
  const live = liveCondition(owner, now.toISOString());
  await conditional(() =>
    db.send(
      new UpdateCommand({
        TableName,
        Key: { id },
        ConditionExpression: live.ConditionExpression,
        UpdateExpression:
          "SET #isActive = :false, #deactivatedAt = if_not_exists(#deactivatedAt, :now), #updatedAt = if_not_exists(#deactivatedAt, :now)",
        ExpressionAttributeNames: {
          ...live.ExpressionAttributeNames,
          "#isActive": "isActive",
          "#deactivatedAt": "deactivatedAt",
          "#updatedAt": "updatedAt",
        },
        ExpressionAttributeValues: { ...live.ExpressionAttributeValues, ":false": false },
      }),
    ),
  );
}

/** Deletes a live session (and its registered token); the same conditions as deactivateSession. */
export async function deleteSession(
  id: string,
  owner: { ownerId?: string },
  now = new Date(),
): Promise<void> {
  const { Attributes } = await conditional(() =>
    db.send(
      new DeleteCommand({
        TableName,
        Key: { id },
        ...liveCondition(owner, now.toISOString()),
        ReturnValues: "ALL_OLD",
      }),
    ),
  );
  const digest = (Attributes as SessionItem | undefined)?.tokenDigest;
  if (digest) {
    await call(() => db.send(new DeleteCommand({ TableName, Key: { id: tokenKey(digest) } })));
  }
}

const BATCH_SIZE = 25;
const BATCH_ATTEMPTS = 6;
const BATCH_BASE_DELAY_MS = 25;

/**
 * "Log out everywhere": pages through the user's index entries and deletes them (and their token
 * items) 25 at a time. Not atomic: a session created while it runs may survive.
 */
export async function deleteAllUserSessions(userId: string): Promise<number> {
  let deleted = 0;
  const query = {
    ...byUserQuery,
    ProjectionExpression: "#id, #tokenDigest",
    ExpressionAttributeNames: { "#userId": "userId", "#id": "id", "#tokenDigest": "tokenDigest" },
    ExpressionAttributeValues: { ":pk": userId },
  };
  for await (const items of everyPage<Pick<SessionItem, "id" | "tokenDigest">>(query)) {
    // Sessions before their token items, in separate batches: if a batch gives up, no session is
    // left without its token item (findSessionByToken relies on it).
    const sessions = items.map((item) => item.id);
    const tokens = items.flatMap((item) =>
      typeof item.tokenDigest === "string" ? [tokenKey(item.tokenDigest)] : [],
    );
    for (const keys of [sessions, tokens]) {
      for (let i = 0; i < keys.length; i += BATCH_SIZE) await batchDelete(keys.slice(i, i + BATCH_SIZE));
    }
    deleted += items.length;
  }
  return deleted;
}

async function batchDelete(ids: string[]): Promise<void> {
  let requests = ids.map((id) => ({ DeleteRequest: { Key: { id } } }));
  for (let attempt = 0; requests.length > 0; attempt++) {
    if (attempt === BATCH_ATTEMPTS)
      throw serviceUnavailable(new Error("UnprocessedItems left after retries"));
    if (attempt > 0) await sleep(BATCH_BASE_DELAY_MS * 2 ** attempt * (0.5 + Math.random() / 2));
    const { UnprocessedItems } = await call(() =>
      db.send(new BatchWriteCommand({ RequestItems: { [TableName]: requests } })),
    );
    requests = (UnprocessedItems?.[TableName] ?? []) as typeof requests;
  }
}

// --- paging -------------------------------------------------------------------------------------

const byUserQuery = {
  TableName,
  IndexName: sessionTable.indexes.byUser.name,
  KeyConditionExpression: "#userId = :pk",
} as const;

/** Every page of a query, one after the other (for reads that need the whole partition). */
async function* everyPage<T>(input: QueryCommandInput): AsyncGenerator<T[]> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const result = await call(() => db.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey })));
    yield (result.Items ?? []) as T[];
    startKey = result.LastEvaluatedKey;
  } while (startKey);
}

/**
 * Newest first from one index partition. Reads `offset + limit + 1` live items (plus any expired
 * ones not yet swept): the extra item tells whether a next page exists.
 */
async function queryPage(
  index: IndexName,
  partition: string,
  page: PageRequest,
  now: Date,
  probeNext = true,
): Promise<Page> {
  const definition = sessionTable.indexes[index];
  const wanted = page.offset + page.limit + (probeNext ? 1 : 0);
  const found: SessionItem[] = [];
  let startKey: Record<string, unknown> | undefined = page.startKey;
  // A page that resumes from a cursor also bounds the sort key by the cursor's own. DynamoDB reads the
  // same items for the same capacity either way; DynamoDB Local, without the bound, reads the index
  // from its newest item up to the start key (a page 90,000 sessions deep: about 20 ms, 2 ms with it).
  const bound = page.startKey?.[definition.sortKey.name];
  const names: Record<string, string> = { "#pk": definition.partitionKey.name, "#expiresAt": "expiresAt" };
  const values: Record<string, unknown> = { ":pk": partition, ":now": now.toISOString() };
  if (bound !== undefined) {
    names["#sk"] = definition.sortKey.name;
    values[":sk"] = bound;
  }
  do {
    const result = await call(() =>
      db.send(
        new QueryCommand({
          TableName,
          IndexName: definition.name,
          KeyConditionExpression: bound === undefined ? "#pk = :pk" : "#pk = :pk AND #sk <= :sk",
          FilterExpression: "#expiresAt > :now",
          ScanIndexForward: false,
          Limit: wanted - found.length,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ExclusiveStartKey: startKey,
        }),
      ),
    );
    found.push(...((result.Items ?? []) as SessionItem[]));
    startKey = result.LastEvaluatedKey;
  } while (startKey && found.length < wanted);

  const items = found.slice(page.offset, page.offset + page.limit);
  const last = items.at(-1);
  const more = found.length > page.offset + page.limit;
  return {
    items: items.map(fromItem),
    limit: page.limit,
    nextKey:
      more && last
        ? {
            id: last.id,
            [definition.partitionKey.name]: partition,
            [definition.sortKey.name]: last.createdAt,
          }
        : undefined,
  };
}

// --- helpers ------------------------------------------------------------------------------------

function liveCondition(owner: { ownerId?: string }, now: string) {
  const names: Record<string, string> = { "#userId": "userId", "#expiresAt": "expiresAt" };
  const values: Record<string, unknown> = { ":now": now };
  let condition = "attribute_exists(#userId) AND #expiresAt > :now";
  if (owner.ownerId !== undefined) {
    condition += " AND #userId = :owner";
    values[":owner"] = owner.ownerId;
  }
  return {
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

function expired(item: { expiresAt: string }, now: Date): boolean {
  return !(item.expiresAt > now.toISOString());
}

function fromItem(item: SessionItem): Session {
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
  };
}

async function conditional<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await call(send);
  } catch (error) {
    if ((error as Error).name === "ConditionalCheckFailedException") throw new SessionNotFound();
    throw error;
  }
}

function cancelledBy(error: unknown, index: number): boolean {
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
  return (
    (error as Error).name === "TransactionCanceledException" &&
    reasons?.[index]?.Code === "ConditionalCheckFailed"
  );
}

const UNAVAILABLE = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "InternalServerError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "TransactionConflictException",
]);

/** Transient store failures (after the SDK's own retries) become 503; anything else is a bug. */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const meta = error as Error & { $fault?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  if (UNAVAILABLE.has(error.name) || meta.$fault === "server") return true;
  if (error.name === "TransactionCanceledException") {
    const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
    return reasons.some((r) => r.Code === "ThrottlingError" || r.Code === "TransactionConflict");
  }
  // Network failures (refused, reset, DNS) carry a Node error code and no HTTP response.
  return typeof meta.code === "string" && meta.$metadata?.httpStatusCode === undefined;
}

async function call<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    if (isUnavailable(error)) throw serviceUnavailable(error);
    throw error;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
