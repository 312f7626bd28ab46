import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DescribeTableCommand, type DynamoDBClient, UpdateTableCommand } from "@aws-sdk/client-dynamodb";
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
  type _Record as StreamRecord,
} from "@aws-sdk/client-dynamodb-streams";
import type { AttributeValue, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { createHandler } from "../functions/events/handler.ts";
import { logPublisher } from "../functions/events/publisher.ts";
import { retryDelay, type WebhookTarget, webhookTarget } from "../functions/events/webhook.ts";
import { logger } from "../functions/shared/logger.ts";
import { WebhookOutbox } from "./local-outbox.ts";
import { sessionTable } from "./table.ts";

// `npm start`'s stand-in for the event source mapping: it reads DynamoDB Local's stream of the table
// and runs the events function (functions/events/handler.ts) on each batch, as Lambda does on AWS.
// With EVENTS_WEBHOOK_URL the events go to the durable webhook outbox (lib/local-outbox.ts), else
// to the log at debug level.
//
// Resuming: after each batch the poller records, per shard, the last sequence number whose events
// were handed to the outbox (or logged) in `<data>/events/checkpoint.json`. A restart resumes right
// after it, so nothing is lost or replayed twice; DynamoDB Local keeps stream records for 24 hours,
// so a runner stopped for longer resumes at the oldest record still kept and says so.

const POLL_MS = 300;
const RECORDS_PER_BATCH = 100;
/** Attempts at one batch before its failing record is set aside (the local dead-letter file). */
const MAX_ATTEMPTS = 10;

export interface EventsSettings {
  webhook?: WebhookTarget;
}

/** Reads EVENTS_WEBHOOK_URL and EVENTS_WEBHOOK_SECRET; throws WebhookConfigError (one line) when bad. */
export function eventsSettings(env: NodeJS.ProcessEnv): EventsSettings {
  const url = env.EVENTS_WEBHOOK_URL || undefined;
  if (url === undefined) return {};
  return { webhook: webhookTarget(url, env.EVENTS_WEBHOOK_SECRET || undefined) };
}

export interface LocalEvents {
  /** One line for the start-up banner. */
  summary: string;
  stop(): Promise<void>;
}

export async function startLocalEvents(options: {
  client: DynamoDBClient;
  endpoint: string;
  tableName: string;
  dataDir: string;
  settings: EventsSettings;
}): Promise<LocalEvents> {
  const dir = join(options.dataDir, "events");
  mkdirSync(dir, { recursive: true });
  const streamArn = await ensureStream(options.client, options.tableName);
  const outbox = options.settings.webhook
    ? new WebhookOutbox(join(dir, "outbox"), options.settings.webhook)
    : undefined;
  const resumed = outbox?.start() ?? 0;
  const streams = new DynamoDBStreamsClient({
    endpoint: options.endpoint,
    region: process.env.AWS_REGION ?? "us-east-1",
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "local",
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "local",
    },
  });
  const poller = new StreamPoller({ streams, streamArn, dir, handle: createHandler(outbox ?? logPublisher) });
  const running = poller.run();
  const target = options.settings.webhook;
  return {
    summary: target
      ? `Events: POST ${target.url} (${target.signer ? "signed, Standard Webhooks" : "unsigned: set EVENTS_WEBHOOK_SECRET=whsec_… to sign"})${resumed ? `, ${resumed} undelivered from the last run` : ""}`
      : "Events: to the log at debug level (POWERTOOLS_LOG_LEVEL=DEBUG); set EVENTS_WEBHOOK_URL to receive them",
    async stop() {
      poller.stop();
      await running;
      await outbox?.stop();
      streams.destroy();
    },
  };
}

/** The table's stream ARN; a table made before events existed gets its stream now. */
export async function ensureStream(client: DynamoDBClient, tableName: string): Promise<string> {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const spec = Table?.StreamSpecification;
  if (spec?.StreamEnabled && Table?.LatestStreamArn) {
    if (spec.StreamViewType !== sessionTable.stream) {
      throw new Error(
        `Table "${tableName}" has a ${spec.StreamViewType} stream; events need ${sessionTable.stream} (disable its stream, then restart)`,
      );
    }
    return Table.LatestStreamArn;
  }
  const { TableDescription } = await client.send(
    new UpdateTableCommand({
      TableName: tableName,
      StreamSpecification: { StreamEnabled: true, StreamViewType: sessionTable.stream },
    }),
  );
  if (!TableDescription?.LatestStreamArn)
    throw new Error(`Table "${tableName}" has no stream after enabling it`);
  return TableDescription.LatestStreamArn;
}

interface ShardState {
  /** Last record whose events are published (handed to the outbox or logged). */
  sequence?: string;
  /** Read to its end: its children may start. */
  closed?: boolean;
}
interface Checkpoint {
  streamArn: string;
  shards: Record<string, ShardState>;
}

export interface PollerOptions {
  streams: DynamoDBStreamsClient;
  streamArn: string;
  /** Where checkpoint.json and dead-letter.jsonl live. */
  dir: string;
  /** The events function. */
  handle: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;
  pollMs?: number;
  maxAttempts?: number;
  /** Milliseconds to wait after the n-th consecutive failure. */
  delay?: (failures: number) => number;
}

/** Reads every shard of the stream in order and runs the events function on each batch. */
export class StreamPoller {
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly iterators = new Map<string, string>();
  private readonly failures = new Map<string, number>();
  private readonly checkpoint: Checkpoint;
  private readonly file: string;
  private readonly streams: DynamoDBStreamsClient;
  private readonly streamArn: string;
  private readonly dir: string;
  private readonly handle: PollerOptions["handle"];
  private readonly pollMs: number;
  private readonly maxAttempts: number;
  private readonly delay: (failures: number) => number;

  constructor(options: PollerOptions) {
    this.streams = options.streams;
    this.streamArn = options.streamArn;
    this.dir = options.dir;
    this.handle = options.handle;
    this.pollMs = options.pollMs ?? POLL_MS;
    this.maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS;
    this.delay = options.delay ?? retryDelay;
    this.file = join(options.dir, "checkpoint.json");
    this.checkpoint = this.load();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  async run(): Promise<void> {
    let errors = 0;
    while (!this.stopped) {
      let read = 0;
      try {
        for (const shard of await this.readyShards()) {
          if (this.stopped) break;
          read += await this.poll(shard);
        }
        errors = 0;
      } catch (error) {
        // DynamoDB Local busy or restarting: keep the checkpoint, try again a little later.
        errors++;
        if (errors === 1 || errors % 20 === 0)
          logger.warn("reading the stream failed", { error: error as Error });
        this.iterators.clear();
        await this.sleep(this.delay(errors));
        continue;
      }
      if (read === 0) await this.sleep(this.pollMs);
    }
  }

  /** Open shards whose parent (if the stream still has it) is read to its end, oldest first. */
  private async readyShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const { StreamDescription } = await this.streams.send(
        new DescribeStreamCommand({ StreamArn: this.streamArn, ExclusiveStartShardId: start }),
      );
      shards.push(...(StreamDescription?.Shards ?? []));
      start = StreamDescription?.LastEvaluatedShardId;
    } while (start);
    const known = new Set(shards.map((shard) => shard.ShardId));
    // Shards past the stream's retention are gone: forget them.
    for (const id of Object.keys(this.checkpoint.shards)) {
      if (!known.has(id)) delete this.checkpoint.shards[id];
    }
    return shards.filter((shard) => {
      const id = shard.ShardId as string;
      if (this.checkpoint.shards[id]?.closed) return false;
      const parent = shard.ParentShardId;
      return !parent || !known.has(parent) || this.checkpoint.shards[parent]?.closed === true;
    });
  }

  /** One GetRecords on a shard and the events function on what it returns; the records read. */
  private async poll(shard: Shard): Promise<number> {
    const id = shard.ShardId as string;
    const iterator = this.iterators.get(id) ?? (await this.iteratorFrom(id, this.checkpoint.shards[id]));
    let page: Awaited<ReturnType<typeof this.getRecords>>;
    try {
      page = await this.getRecords(iterator);
    } catch (error) {
      if ((error as Error).name !== "ExpiredIteratorException") throw error;
      this.iterators.delete(id);
      return 0;
    }
    const records = page.Records ?? [];
    if (!page.NextShardIterator) {
      // Read to its end (only possible with no records pending past the checkpoint).
      if (records.length === 0) {
        this.save(id, { ...this.checkpoint.shards[id], closed: true });
        this.iterators.delete(id);
        return 0;
      }
    } else this.iterators.set(id, page.NextShardIterator);
    if (records.length === 0) return 0;

    const batch = records.map(toLambdaRecord);
    const { batchItemFailures } = await this.handle({ Records: batch });
    const failed = batchItemFailures[0]?.itemIdentifier;
    if (failed === undefined) {
      this.failures.delete(id);
      this.save(id, { sequence: batch.at(-1)?.dynamodb?.SequenceNumber as string });
      if (!page.NextShardIterator) this.iterators.delete(id);
      return records.length;
    }
    // Reported by sequence number; an identifier not in the batch fails the batch as a whole.
    const index = Math.max(
      0,
      batch.findIndex((record) => record.dynamodb?.SequenceNumber === failed),
    );
    const before = batch[index - 1]?.dynamodb?.SequenceNumber;
    if (before) this.save(id, { sequence: before });
    const attempts = (this.failures.get(id) ?? 0) + 1;
    if (attempts >= this.maxAttempts) {
      // As on AWS, a record that keeps failing is set aside (its identifiers, never its images).
      this.deadLetter(id, batch[index] as DynamoDBRecord);
      this.failures.delete(id);
      this.save(id, { sequence: batch[index]?.dynamodb?.SequenceNumber as string });
    } else {
      this.failures.set(id, attempts);
      await this.sleep(this.delay(attempts));
    }
    this.iterators.delete(id);
    return records.length;
  }

  private getRecords(iterator: string) {
    return this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: RECORDS_PER_BATCH }));
  }

  private async iteratorFrom(shardId: string, state: ShardState | undefined): Promise<string> {
    const from = state?.sequence;
    try {
      const { ShardIterator } = await this.streams.send(
        new GetShardIteratorCommand({
          StreamArn: this.streamArn,
          ShardId: shardId,
          ...(from
            ? { ShardIteratorType: "AFTER_SEQUENCE_NUMBER", SequenceNumber: from }
            : { ShardIteratorType: "TRIM_HORIZON" }),
        }),
      );
      return ShardIterator as string;
    } catch (error) {
      if (!from || (error as Error).name !== "TrimmedDataAccessException") throw error;
      logger.warn(
        "stream records after the checkpoint are past DynamoDB Local's 24-hour retention: their events are lost; resuming at the oldest record kept",
        {
          shardId,
          checkpoint: from,
        },
      );
      this.save(shardId, {});
      return this.iteratorFrom(shardId, undefined);
    }
  }

  private deadLetter(shardId: string, record: DynamoDBRecord): void {
    const entry = {
      at: new Date().toISOString(),
      shardId,
      eventID: record.eventID,
      eventName: record.eventName,
      sequenceNumber: record.dynamodb?.SequenceNumber,
      keys: record.dynamodb?.Keys,
    };
    appendFileSync(join(this.dir, "dead-letter.jsonl"), `${JSON.stringify(entry)}\n`);
    logger.error("stream record set aside after repeated failures", entry);
  }

  private load(): Checkpoint {
    try {
      const saved = JSON.parse(readFileSync(this.file, "utf8")) as Checkpoint;
      // Another stream (a new table, or DynamoDB Local in memory): its shards start from the oldest record.
      if (saved.streamArn === this.streamArn) return saved;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    return { streamArn: this.streamArn, shards: {} };
  }

  private save(shardId: string, state: ShardState): void {
    this.checkpoint.shards[shardId] = state;
    const temporary = `${this.file}.tmp`;
    writeFileSync(temporary, JSON.stringify(this.checkpoint));
    renameSync(temporary, this.file);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** The SDK's record, as Lambda hands it to a function (epoch seconds, lower-case userIdentity). */
function toLambdaRecord(record: StreamRecord): DynamoDBRecord {
  const change = record.dynamodb;
  const identity = record.userIdentity;
  return {
    eventID: record.eventID,
    eventName: record.eventName as DynamoDBRecord["eventName"],
    eventVersion: record.eventVersion,
    eventSource: record.eventSource,
    awsRegion: record.awsRegion,
    dynamodb: change && {
      ApproximateCreationDateTime:
        change.ApproximateCreationDateTime && Math.floor(change.ApproximateCreationDateTime.getTime() / 1000),
      Keys: change.Keys as Record<string, AttributeValue>,
      NewImage: change.NewImage as Record<string, AttributeValue>,
      OldImage: change.OldImage as Record<string, AttributeValue>,
      SequenceNumber: change.SequenceNumber,
      SizeBytes: change.SizeBytes,
      StreamViewType: change.StreamViewType,
    },
    ...(identity && { userIdentity: { type: identity.Type, principalId: identity.PrincipalId } }),
  };
}
