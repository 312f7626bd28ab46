import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";

// The one definition of the sessions table. The CDK stack, the local runner, the tests and the
// benchmark all build the table from this object; nothing else names a key or an index.

export type KeyType = "S" | "N";
export interface KeyAttribute {
  readonly name: string;
  readonly type: KeyType;
}
export interface IndexDefinition {
  readonly name: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey: KeyAttribute;
}

export const sessionTable = {
  partitionKey: { name: "id", type: "S" },
  /** Epoch seconds; DynamoDB's sweeper deletes the item some time (up to days) after it passes. */
  ttlAttribute: "ttl",
  /**
   * The change stream the events function reads (lib/events-pipeline.ts, lib/local-events.ts): both
   * images, because a REMOVE carries only the old one (who ended a session, and why) and a MODIFY
   * is told apart from a touch by comparing the two.
   */
  stream: "NEW_AND_OLD_IMAGES",
  indexes: {
    /** Every per-user read: a user's sessions newest first, and their last session. */
    byUser: {
      name: "byUser",
      partitionKey: { name: "userId", type: "S" },
      sortKey: { name: "createdAt", type: "S" },
    },
    /**
     * The admin list of all sessions, newest first. A session's `feed` is one of FEED_SHARDS write
     * shards (a hash of its id), so writes spread over that many partitions; a page merges the
     * shards' queries newest first (functions/shared/store/feed.ts).
     */
    byCreated: {
      name: "byCreated",
      partitionKey: { name: "feed", type: "S" },
      sortKey: { name: "createdAt", type: "S" },
    },
  },
} as const satisfies {
  partitionKey: KeyAttribute;
  ttlAttribute: string;
  stream: "NEW_AND_OLD_IMAGES";
  indexes: Record<string, IndexDefinition>;
};

export type IndexName = keyof typeof sessionTable.indexes;

/**
 * Write shards of the all-sessions feed. One index partition takes about 1,000 writes per second,
 * and every create, deactivation and end writes this index, so the service's write ceiling is about
 * FEED_SHARDS × 1,000 per second (16,000). A feed page queries every shard (in parallel, a couple of
 * items each), so more shards cost more read requests per page: docs/performance.md has the figures
 * at 1, 8 and 16 shards.
 */
export const FEED_SHARDS = 16;

/** The `byCreated` partition (`feed`) of a session: FNV-1a of its id, modulo the shard count. */
export function feedOf(id: string, shards: number = FEED_SHARDS): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return String(hash % shards);
}

/** Every `feed` value, in shard order. */
export const feedPartitions = (shards: number = FEED_SHARDS): string[] =>
  Array.from({ length: shards }, (_, i) => String(i));

/** CreateTable input for DynamoDB Local or any DynamoDB-compatible endpoint (on-demand billing). */
export function createTableInput(tableName: string): CreateTableCommandInput {
  const indexes = Object.values(sessionTable.indexes);
  const attributes = new Map<string, KeyType>([
    [sessionTable.partitionKey.name, sessionTable.partitionKey.type],
  ]);
  for (const index of indexes) {
    attributes.set(index.partitionKey.name, index.partitionKey.type);
    attributes.set(index.sortKey.name, index.sortKey.type);
  }
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType,
    })),
    KeySchema: [{ AttributeName: sessionTable.partitionKey.name, KeyType: "HASH" }],
    StreamSpecification: { StreamEnabled: true, StreamViewType: sessionTable.stream },
    GlobalSecondaryIndexes: indexes.map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey.name, KeyType: "HASH" },
        { AttributeName: index.sortKey.name, KeyType: "RANGE" },
      ],
      Projection: { ProjectionType: "ALL" },
    })),
  };
}

/**
 * What the first round asks of each shard for a page that ends `wanted` items in: two more than an
 * even share of `wanted` + 1 (the one that tells whether more follow). A page of 10 over 16 shards then
 * needs a second round only when one shard holds 3 of its 11 newest items (two pages in five),
 * not 2 (99 pages in 100); three items of a session's size fit in one 4 KB read, so the first round
 * costs no more read units. Bench phase 3, one run each: the handler 13.6 → 12.7 ms p50, 3.9 → 1.2 ms
 * above one raw round of the same shape, on DynamoDB Local (which serves the shards one by one).
 */
export function firstShare(wanted: number, shards: number): number {
  return Math.ceil((wanted + 1) / shards) + 2;
}
