import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  TrimmedDataAccessException,
} from "@aws-sdk/client-dynamodb-streams";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { StreamPoller } from "../../lib/local-events.ts";
import { sessionItem } from "../fixtures/stream-records.ts";

// The local stream poller's bookkeeping, on a mocked DynamoDB Streams API: where it resumes, what it
// records as done, and what it does with a record that keeps failing. (tests/integration/events.test.ts
// runs it for real on DynamoDB Local, restart included.)

const streams = mockClient(DynamoDBStreamsClient);
const STREAM = "arn:aws:dynamodb:ddblocal:000000000000:table/sessions/stream/2026-11-30T00:00:00.000";
const SHARD = "shardId-00000001796005294118-c5700607";
const dirs: string[] = [];
const pollers: { poller: StreamPoller; running: Promise<void> }[] = [];

afterEach(async () => {
  for (const { poller, running } of pollers.splice(0)) {
    poller.stop();
    await running;
  }
  streams.reset();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const record = (sequence: number): _Record => ({
  eventID: `event-${sequence}`,
  eventName: "INSERT",
  eventSource: "aws:dynamodb",
  dynamodb: {
    ApproximateCreationDateTime: new Date("2026-11-30T10:00:00.000Z"),
    Keys: marshall({ id: `s${sequence}` }),
    NewImage: marshall(sessionItem({ id: `s${sequence}` })),
    SequenceNumber: String(sequence).padStart(21, "0"),
    StreamViewType: "NEW_AND_OLD_IMAGES",
  },
});
const seq = (n: number) => String(n).padStart(21, "0");

function start(
  dir: string,
  handle: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>,
  maxAttempts = 3,
) {
  const poller = new StreamPoller({
    streams: new DynamoDBStreamsClient({
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    }),
    streamArn: STREAM,
    dir,
    handle,
    pollMs: 10,
    maxAttempts,
    delay: () => 10,
  });
  const running = poller.run();
  pollers.push({ poller, running });
  return poller;
}

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "sessions-poller-"));
  dirs.push(dir);
  return dir;
};
const checkpointOf = (dir: string) => JSON.parse(readFileSync(join(dir, "checkpoint.json"), "utf8"));

async function until(condition: () => boolean) {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** One open shard whose records are `pages`, one GetRecords each, then nothing. */
function stream(pages: _Record[][]) {
  streams
    .on(DescribeStreamCommand)
    .resolves({ StreamDescription: { StreamArn: STREAM, Shards: [{ ShardId: SHARD }] } });
  streams.on(GetShardIteratorCommand).resolves({ ShardIterator: "iterator-0" });
  let call = streams.on(GetRecordsCommand);
  for (const [i, page] of pages.entries()) {
    call = call.resolvesOnce({ Records: page, NextShardIterator: `iterator-${i + 1}` });
  }
  call.resolves({ Records: [], NextShardIterator: "iterator-end" });
}

const iteratorRequests = () =>
  streams.commandCalls(GetShardIteratorCommand).map((c) => {
    const { ShardIteratorType, SequenceNumber } = c.args[0].input;
    return SequenceNumber ? `${ShardIteratorType} ${SequenceNumber}` : ShardIteratorType;
  });

describe("local stream poller", () => {
  it("starts a stream it has never read at its oldest record, and records each batch once it is handled", async () => {
    const dir = tempDir();
    stream([[record(1), record(2)], [record(3)]]);
    const batches: string[][] = [];
    start(dir, async (event) => {
      batches.push(event.Records.map((r) => r.eventID as string));
      return { batchItemFailures: [] };
    });

    await until(() => batches.length === 2);
    await until(() => checkpointOf(dir).shards[SHARD]?.sequence === seq(3));
    expect(batches).toEqual([["event-1", "event-2"], ["event-3"]]);
    expect(iteratorRequests()).toEqual(["TRIM_HORIZON"]);
    expect(checkpointOf(dir)).toEqual({ streamArn: STREAM, shards: { [SHARD]: { sequence: seq(3) } } });
  });

  it("resumes right after its checkpoint, and starts over for another stream's checkpoint", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "checkpoint.json"),
      JSON.stringify({ streamArn: STREAM, shards: { [SHARD]: { sequence: seq(7) } } }),
    );
    stream([]);
    start(dir, async () => ({ batchItemFailures: [] }));
    await until(() => iteratorRequests().length > 0);
    expect(iteratorRequests()[0]).toBe(`AFTER_SEQUENCE_NUMBER ${seq(7)}`);

    const other = tempDir();
    writeFileSync(
      join(other, "checkpoint.json"),
      JSON.stringify({ streamArn: `${STREAM}-older`, shards: { [SHARD]: { sequence: seq(7) } } }),
    );
    streams.resetHistory();
    start(other, async () => ({ batchItemFailures: [] }));
    await until(() => iteratorRequests().length > 0);
    expect(iteratorRequests()[0]).toBe("TRIM_HORIZON");
  });

  it("falls back to the oldest record kept when its checkpoint is past the stream's retention", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "checkpoint.json"),
      JSON.stringify({ streamArn: STREAM, shards: { [SHARD]: { sequence: seq(2) } } }),
    );
    stream([[record(40)]]);
    streams
      .on(GetShardIteratorCommand, { ShardIteratorType: "AFTER_SEQUENCE_NUMBER" })
      .rejects(new TrimmedDataAccessException({ message: "trimmed", $metadata: {} }));
    const seen: string[] = [];
    start(dir, async (event) => {
      seen.push(...event.Records.map((r) => r.eventID as string));
      return { batchItemFailures: [] };
    });
    await until(() => seen.length === 1);
    expect(iteratorRequests()).toEqual([`AFTER_SEQUENCE_NUMBER ${seq(2)}`, "TRIM_HORIZON"]);
  });

  it("on a reported failure, records the records before it as done and reads again from the failed one", async () => {
    const dir = tempDir();
    stream([[record(1), record(2), record(3)]]);
    streams
      .on(GetShardIteratorCommand, { ShardIteratorType: "AFTER_SEQUENCE_NUMBER" })
      .resolves({ ShardIterator: "again" });
    streams
      .on(GetRecordsCommand, { ShardIterator: "again" })
      .resolvesOnce({ Records: [record(2), record(3)], NextShardIterator: "x" });
    const batches: string[][] = [];
    start(dir, async (event) => {
      batches.push(event.Records.map((r) => r.eventID as string));
      return batches.length === 1
        ? { batchItemFailures: [{ itemIdentifier: seq(2) }] }
        : { batchItemFailures: [] };
    });
    await until(() => batches.length === 2);
    await until(() => checkpointOf(dir).shards[SHARD]?.sequence === seq(3));
    expect(batches).toEqual([
      ["event-1", "event-2", "event-3"],
      ["event-2", "event-3"],
    ]);
    expect(iteratorRequests()).toEqual(["TRIM_HORIZON", `AFTER_SEQUENCE_NUMBER ${seq(1)}`]);
  });

  it("sets a record that keeps failing aside (its identifiers only, never its images) and goes on", async () => {
    const dir = tempDir();
    stream([[record(1)]]);
    streams
      .on(GetShardIteratorCommand, { ShardIteratorType: "TRIM_HORIZON" })
      .resolves({ ShardIterator: "start" });
    streams
      .on(GetRecordsCommand, { ShardIterator: "start" })
      .resolves({ Records: [record(1)], NextShardIterator: "next" });
    streams
      .on(GetRecordsCommand, { ShardIterator: "after" })
      .resolves({ Records: [record(2)], NextShardIterator: "next" });
    streams
      .on(GetShardIteratorCommand, { ShardIteratorType: "AFTER_SEQUENCE_NUMBER" })
      .resolves({ ShardIterator: "after" });
    let attempts = 0;
    const handled: string[] = [];
    start(
      dir,
      async (event) => {
        if (event.Records[0]?.eventID === "event-1") {
          attempts++;
          return { batchItemFailures: [{ itemIdentifier: seq(1) }] };
        }
        handled.push(...event.Records.map((r) => r.eventID as string));
        return { batchItemFailures: [] };
      },
      3,
    );
    await until(() => handled.includes("event-2"));
    expect(attempts).toBe(3);
    const [line] = readFileSync(join(dir, "dead-letter.jsonl"), "utf8").trim().split("\n");
    const entry = JSON.parse(line as string);
    expect(entry).toMatchObject({
      shardId: SHARD,
      eventID: "event-1",
      sequenceNumber: seq(1),
      keys: { id: { S: "s1" } },
    });
    expect(line).not.toContain("tokenDigest");
  });
});
