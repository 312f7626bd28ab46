import { randomBytes } from "node:crypto";
import { type AttributeValue, type DynamoDBClient, QueryCommand } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SignJWT } from "jose";
import { FEED_SHARDS, feedOf, feedPartitions, firstShare, sessionTable } from "../lib/table.ts";
import { functionEnv, type Service, TABLE_NAME } from "./context.ts";
import { pool } from "./stats.ts";

// Sessions and tokens for the phases. Sessions are opened through the store itself, or, for the scale
// seed, written in bulk in the store's item layout (the same attributes createSession writes).

const secret = new TextEncoder().encode(functionEnv.JWT_SECRET);

export async function signToken(claims: Record<string, unknown>, ttlSeconds = 3600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(secret);
}

/** An operator token: `sessions:admin` scope, no `sid`, so no session read on auth. */
export const adminToken = () => signToken({ sub: "bench-admin", scope: "sessions:admin" });
/** A user token without `sid`: authenticates on the signature alone. */
export const plainUserToken = (sub: string) => signToken({ sub });

export const newId = () => randomBytes(24).toString("base64url");
export const DAY_MS = 86_400_000;

export type Session = Awaited<ReturnType<Service["store"]["createSession"]>>;

/** Opens `count` sessions for a user through the store, newest last; a second apart in `createdAt`. */
export async function openSessions(service: Service, userId: string, count: number): Promise<Session[]> {
  const sessions: Session[] = new Array(count);
  const base = Date.now() - count * 1000;
  await pool(
    Array.from({ length: count }, (_, i) => i),
    16,
    async (i) => {
      sessions[i] = await service.store.createSession({
        id: newId(),
        userId,
        createdAt: new Date(base + i * 1000),
        expiresAt: new Date(Date.now() + 7 * DAY_MS),
        ipAddress: "203.0.113.7",
        userAgent: "bench/1.0",
        profile: null,
        tokenDigest: null,
      });
    },
  );
  return sessions;
}

/** A session item as createSession writes it, ready for a raw PutItem. */
export function rawSessionItem(id: string, userId: string, now = new Date()): Record<string, AttributeValue> {
  const createdAt = now.toISOString();
  const expiresAt = new Date(now.getTime() + DAY_MS).toISOString();
  return {
    id: { S: id },
    userId: { S: userId },
    feed: { S: feedOf(id) },
    createdAt: { S: createdAt },
    updatedAt: { S: createdAt },
    expiresAt: { S: expiresAt },
    ttl: { N: String(Math.ceil(Date.parse(expiresAt) / 1000)) },
    isActive: { BOOL: true },
    ipAddress: { S: "203.0.113.7" },
    userAgent: { S: "bench/1.0" },
  };
}

export interface Seeded {
  ids: string[];
  users: string[];
  seconds: number;
}

/**
 * Seeds `sessions` sessions spread round-robin over `sessions / perUser` users with BatchWriteItem
 * (25 items a request, 8 in flight, unprocessed items retried), `createdAt` one second apart.
 */
export async function seedSessions(
  service: Service,
  options: {
    sessions: number;
    perUser: number;
    prefix: string;
    progress: (line: string) => void;
    /** The table to fill (default the sessions table the handlers read). */
    table?: string;
    /** Write shards of the feed (default FEED_SHARDS, what the store writes). */
    shards?: number;
    /** One user for every session (default: round-robin over sessions / perUser users). */
    user?: string;
    /** Expiry of every session (default 30 days ahead); a past one plants an unswept backlog. */
    expiresAt?: string;
    /** Creation time of the oldest session (default: one second per session before now). */
    from?: number;
  },
): Promise<Seeded> {
  const table = options.table ?? TABLE_NAME;
  const db = DynamoDBDocumentClient.from(service.client);
  const userCount = Math.max(1, Math.ceil(options.sessions / options.perUser));
  const users = Array.from({ length: userCount }, (_, i) => `${options.prefix}-u${i}`);
  const ids = Array.from({ length: options.sessions }, () => newId());
  const base = options.from ?? Date.now() - options.sessions * 1000;
  const expiresAt = options.expiresAt ?? new Date(Date.now() + 30 * DAY_MS).toISOString();
  // A day past the expiry: DynamoDB Local's sweeper must not remove a planted backlog mid-run.
  const ttl = Math.ceil(Date.parse(expiresAt) / 1000) + 86_400;
  const batches: number[][] = [];
  for (let i = 0; i < ids.length; i += 25) {
    batches.push(Array.from({ length: Math.min(25, ids.length - i) }, (_, k) => i + k));
  }
  const started = performance.now();
  let written = 0;
  let nextReport = 0.1;
  await pool(batches, 8, async (batch) => {
    let requests = batch.map((i) => {
      const createdAt = new Date(base + i * 1000).toISOString();
      return {
        PutRequest: {
          Item: {
            id: ids[i],
            userId: options.user ?? users[i % userCount],
            feed: feedOf(ids[i] as string, options.shards),
            createdAt,
            updatedAt: createdAt,
            expiresAt,
            ttl,
            isActive: true,
            ipAddress: "198.51.100.23",
            userAgent: "Mozilla/5.0 (X11; Linux x86_64) bench",
          },
        },
      };
    });
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 20 * attempt));
      try {
        const { UnprocessedItems } = await db.send(
          new BatchWriteCommand({ RequestItems: { [table]: requests } }),
        );
        requests = (UnprocessedItems?.[table] ?? []) as typeof requests;
      } catch (error) {
        // DynamoDB Local, holding a few hundred thousand items in memory, can pause past the store's
        // request timeout (a garbage collection): the puts are idempotent, so the batch is sent again.
        if ((error as Error).name !== "TimeoutError" || attempt >= 5) throw error;
      }
    }
    written += batch.length;
    if (written / options.sessions >= nextReport) {
      const seconds = (performance.now() - started) / 1000;
      options.progress(
        `seeded ${written.toLocaleString("en-US")}/${options.sessions.toLocaleString("en-US")} sessions (${Math.round(written / seconds)}/s)`,
      );
      nextReport += 0.1;
    }
  });
  return { ids, users, seconds: (performance.now() - started) / 1000 };
}

/**
 * One page of an index, newest first, as the store's paging issues it (expired items filtered), sent
 * raw with pre-marshalled values: the floor a route's handler is compared with.
 */
export function rawPage(
  client: DynamoDBClient,
  index: "byUser" | "byCreated",
  pk: string,
  limit: number,
  start?: Record<string, string>,
) {
  const S = (value: string) => ({ S: value });
  const { partitionKey, sortKey } = sessionTable.indexes[index];
  // As the store does: a page resuming from a start key is also bounded by its sort key.
  const bound = start?.[sortKey.name];
  return client.send(
    new QueryCommand({
      TableName: TABLE_NAME,
      IndexName: index,
      KeyConditionExpression: bound === undefined ? "#pk = :pk" : "#pk = :pk AND #sk <= :sk",
      FilterExpression: "#expiresAt > :now AND attribute_not_exists(#ended)",
      ScanIndexForward: false,
      Limit: limit,
      ExpressionAttributeNames: {
        "#pk": partitionKey.name,
        "#expiresAt": "expiresAt",
        "#ended": "ended",
        ...(bound !== undefined && { "#sk": sortKey.name }),
      },
      ExpressionAttributeValues: {
        ":pk": S(pk),
        ":now": S(new Date().toISOString()),
        ...(bound !== undefined && { ":sk": S(bound) }),
      },
      ExclusiveStartKey: start && Object.fromEntries(Object.entries(start).map(([k, v]) => [k, S(v)])),
    }),
  );
}

/**
 * The first round trip of a feed page as the store issues it: every write shard queried in parallel
 * for its share of the page (see functions/shared/store/feed.ts), from `positions` when given (a
 * decoded cursor: shard → "" or "createdAt|id").
 */
export function rawFeedPage(client: DynamoDBClient, limit: number, positions?: Record<string, string>) {
  const shards = positions ?? Object.fromEntries(feedPartitions().map((p) => [p, ""]));
  const share = firstShare(limit, FEED_SHARDS);
  return Promise.all(
    Object.entries(shards).map(([feed, position]) => {
      const [createdAt, id] = position.split("|");
      const start = createdAt && id ? { id, feed, createdAt } : undefined;
      return rawPage(client, "byCreated", feed, share, start);
    }),
  );
}
