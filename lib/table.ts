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
     * The admin list of all sessions, newest first. Every session carries the same `feed` value,
     * so this index has one partition: about 1,000 session creations per second at most. Raising
     * it means sharding `feed` (e.g. `0`..`N-1` by hash of the id) and merging N queries per page.
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

/** The value every session carries in the `byCreated` partition key. */
export const FEED = "all";

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
