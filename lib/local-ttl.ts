import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { DeleteItemCommand, type DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { logger } from "../functions/shared/logger.ts";
import { sessionTable } from "./table.ts";

// npm start's stand-in for DynamoDB's TTL sweeper. DynamoDB Local's own TTL job builds each expired
// item's key from every attribute the table defines, index keys included; an expired item without
// them (a registered-token item, a per-user cap item) makes it fail, and it deletes nothing more for
// that table until DynamoDB Local restarts (measured: see docs/events.md). So expiry, and with it the
// `session.expired` events, would stop the first time such an item expired.
//
// This sweeper deletes what has expired, as AWS's would: a page of the table per tick (so a large
// table is walked over several ticks, and its sweep lags, as AWS's does), each delete conditional on
// the item's `ttl` being unchanged. Before deleting it notes the item in a journal (kept in the data
// folder), and the stream poller gives that item's REMOVE the identity AWS gives TTL deletions, so
// the events function sees what it sees on AWS. DynamoDB Local's own job, while it works, may delete
// an item first; its records have their own shape, which the events function also recognises.

const TICK_MS = 1_000;
const PAGE = 500;
/** Journal entries older than the stream's retention can no longer be matched with a record. */
const KEEP_MS = 24 * 3_600_000;

interface Swept {
  ttl: number;
  at: number;
}

export class TtlSweeper {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly file: string;
  private readonly journal: Map<string, Swept>;
  private cursor: Record<string, never> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;

  constructor(options: { client: DynamoDBClient; tableName: string; journalFile: string }) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.file = options.journalFile;
    this.journal = this.load();
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .then(() => undefined)
        .finally(() => {
          this.running = undefined;
        });
    }, TICK_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Whether this sweeper deleted the item `id` whose `ttl` was this (its REMOVE is a TTL deletion). */
  swept(id: string, ttl: number | undefined): boolean {
    return ttl !== undefined && this.journal.get(id)?.ttl === ttl;
  }

  /** The poller has handed these records' events on: their entries are no longer needed. */
  forget(ids: readonly string[]): void {
    let changed = false;
    for (const id of ids) changed = this.journal.delete(id) || changed;
    if (changed) this.save();
  }

  /** One page of the table: every item whose `ttl` has passed is deleted. */
  async sweep(now = new Date()): Promise<number> {
    const ttl = sessionTable.ttlAttribute;
    const key = sessionTable.partitionKey.name;
    let deleted = 0;
    try {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: "#ttl <= :now",
          ProjectionExpression: "#key, #ttl",
          ExpressionAttributeNames: { "#ttl": ttl, "#key": key },
          ExpressionAttributeValues: { ":now": { N: String(Math.floor(now.getTime() / 1000)) } },
          Limit: PAGE,
          ExclusiveStartKey: this.cursor,
        }),
      );
      this.cursor = page.LastEvaluatedKey as Record<string, never> | undefined;
      const expired = (page.Items ?? []).flatMap((item) => {
        const id = item[key]?.S;
        const value = item[ttl]?.N;
        return id === undefined || value === undefined ? [] : [{ id, ttl: value }];
      });
      if (expired.length === 0) return 0;
      for (const item of expired) this.journal.set(item.id, { ttl: Number(item.ttl), at: now.getTime() });
      this.save();
      for (const item of expired) {
        try {
          await this.client.send(
            new DeleteItemCommand({
              TableName: this.tableName,
              Key: { [key]: { S: item.id } },
              // Not if it changed since (a new expiry, or ended by a delete that moved its ttl).
              ConditionExpression: "#ttl = :ttl",
              ExpressionAttributeNames: { "#ttl": ttl },
              ExpressionAttributeValues: { ":ttl": { N: item.ttl } },
            }),
          );
          deleted++;
        } catch (error) {
          if ((error as Error).name !== "ConditionalCheckFailedException") throw error;
          this.journal.delete(item.id);
        }
      }
      this.save();
      this.failures = 0;
    } catch (error) {
      this.failures++;
      if (this.failures === 1 || this.failures % 60 === 0) {
        logger.warn("the local TTL sweep failed; it tries again", { error: error as Error });
      }
    }
    return deleted;
  }

  private load(): Map<string, Swept> {
    try {
      const entries = JSON.parse(readFileSync(this.file, "utf8")) as [string, Swept][];
      return new Map(entries.filter(([, entry]) => Date.now() - entry.at < KEEP_MS));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      return new Map();
    }
  }

  private save(): void {
    const temporary = `${this.file}.tmp`;
    writeFileSync(temporary, JSON.stringify([...this.journal]));
    renameSync(temporary, this.file);
  }
}
