import { CreateTableCommand, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import type { PageKey } from "../../functions/shared/store/index.ts";
import { createTableInput, FEED_SHARDS, feedOf } from "../../lib/table.ts";
import { type Bench, TABLE_NAME } from "../context.ts";
import { seedSessions } from "../fixtures.ts";
import { cu, ms, type PhaseOutcome } from "../report.ts";
import { type Summary, summarize } from "../stats.ts";

// The all-sessions feed at 1, 8 and 16 write shards: what a page costs as the shard count (and so the
// write ceiling, about 1,000 writes/s per shard) grows. One table per shard count, side by side in one
// DynamoDB Local, each seeded with the same number of sessions, the store's own feed reader pointed at
// each in turns, call by call; the first page and a page 90% deep (every shard's position 90% into it).

const SHARD_COUNTS = [1, 8, 16] as const;
const LIMIT = 10;
const DEEP_FRACTION = 0.9;

interface Figures {
  shards: number;
  ceiling: number;
  first: { latency: Summary; read: number; calls: number };
  deep: { latency: Summary; read: number; calls: number };
}

export async function shardsPhase(bench: Bench): Promise<PhaseOutcome> {
  const service = await bench.services();
  const { options } = bench;
  const { readFeed } = await import("../../functions/shared/store/feed.ts");
  const tables = new Map<number, { name: string; deep: PageKey }>();
  for (const shards of SHARD_COUNTS) {
    const name = `${TABLE_NAME}-shards-${shards}`;
    await service.dropTable(name);
    await service.client.send(new CreateTableCommand(createTableInput(name)));
    await service.client
      .send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { AttributeName: "ttl", Enabled: true },
        }),
      )
      .catch(() => {});
    bench.log(`shards: seeding ${options.sessions.toLocaleString("en-US")} sessions into ${name}`);
    const seeded = await seedSessions(service, {
      sessions: options.sessions,
      perUser: options.sessionsPerUser,
      prefix: `shards${shards}`,
      progress: (line) => bench.log(`shards: ${line}`),
      table: name,
      shards,
    });
    // Sessions were created one second apart in id order: each shard's position 90% into it.
    const base = Date.now() - options.sessions * 1000;
    const byShard = new Map<string, number[]>();
    seeded.ids.forEach((id, i) => {
      const shard = feedOf(id, shards);
      const list = byShard.get(shard) ?? [];
      list.push(i);
      byShard.set(shard, list);
    });
    const deep: PageKey = {};
    for (const [shard, indexes] of byShard) {
      // Newest first: 90% deep is the item 10% from the oldest end.
      const i = indexes[Math.floor(indexes.length * (1 - DEEP_FRACTION))] as number;
      deep[shard] = `${new Date(base + i * 1000).toISOString()}|${seeded.ids[i]}`;
    }
    tables.set(shards, { name, deep });
  }

  const router = redirect(service.client);
  const samples = new Map<string, number[]>();
  const capacity = new Map<string, { read: number; calls: number }>();
  for (let i = -5; i < options.scaleIterations; i++) {
    for (const shards of i % 2 ? [...SHARD_COUNTS].reverse() : SHARD_COUNTS) {
      const { name, deep } = tables.get(shards) as { name: string; deep: PageKey };
      for (const [kind, startKey] of [
        ["first", undefined],
        ["deep", deep],
      ] as const) {
        const key = `${shards}/${kind}`;
        router.table = name;
        const started = performance.now();
        const { capacity: used } = await service.recorder.measure(() =>
          readFeed({ limit: LIMIT, offset: 0, startKey }, new Date(), shards),
        );
        const elapsed = performance.now() - started;
        router.table = undefined;
        if (i < 0) continue;
        const list = samples.get(key) ?? [];
        list.push(elapsed);
        samples.set(key, list);
        capacity.set(key, { read: used.read, calls: used.calls });
      }
    }
  }
  router.remove();
  for (const { name } of tables.values()) await service.dropTable(name);

  const figures: Figures[] = SHARD_COUNTS.map((shards) => {
    const figure = (kind: string) => ({
      latency: summarize(samples.get(`${shards}/${kind}`) ?? []),
      ...(capacity.get(`${shards}/${kind}`) as { read: number; calls: number }),
    });
    return { shards, ceiling: shards * 1000, first: figure("first"), deep: figure("deep") };
  });
  return {
    report: {
      title: `The all-sessions feed by write shards (${options.sessions.toLocaleString("en-US")} sessions, pages of ${LIMIT}; the service uses ${FEED_SHARDS})`,
      table: {
        headers: [
          "shards",
          "write ceiling /s",
          "first page p50 ms",
          "first page RCU",
          "queries",
          "deep page p50 ms",
          "deep page RCU",
          "queries",
        ],
        rows: figures.map((f) => [
          f.shards,
          f.ceiling.toLocaleString("en-US"),
          ms(f.first.latency.p50),
          cu(f.first.read),
          f.first.calls,
          ms(f.deep.latency.p50),
          cu(f.deep.read),
          f.deep.calls,
        ]),
      },
      notes: [
        `${options.scaleIterations} pages per row after 5 warm-up rounds, the shard counts in alternating order call by call; the store's own reader (functions/shared/store/feed.ts) on DynamoDB Local; RCU as DynamoDB Local reports them with ReturnConsumedCapacity (an eventually consistent Query costs at least 0.5 each, so the floor of a page is 0.5 × shards)`,
      ],
    },
    data: { sessions: options.sessions, limit: LIMIT, figures },
  };
}

/** Sends every command of the store's client to `table` while it is set. */
function redirect(client: typeof import("@aws-sdk/client-dynamodb").DynamoDBClient.prototype) {
  const NAME = "benchShardsTableRouter";
  const state: { table: string | undefined; remove: () => void } = {
    table: undefined,
    remove: () => client.middlewareStack.remove(NAME),
  };
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { TableName?: string };
      if (state.table !== undefined && typeof input.TableName === "string") {
        return next({ ...args, input: { ...input, TableName: state.table } });
      }
      return next(args);
    },
    { step: "initialize", name: NAME },
  );
  return state;
}
