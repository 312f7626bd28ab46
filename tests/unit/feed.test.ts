import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { readFeed } from "../../functions/shared/store/feed.ts";
import type { PageKey } from "../../functions/shared/store/index.ts";
import { PAGE_BUDGET } from "../../functions/shared/store/query.ts";
import { feedOf } from "../../lib/table.ts";

// The all-sessions feed merged from its write shards, against an in-memory model of what DynamoDB's
// Query does on the byCreated index: one partition per shard, newest first, ties in the sort key in
// one fixed order, ExclusiveStartKey, Limit counting evaluated items, the filter after the Limit.

const ddb = mockClient(DynamoDBDocumentClient);
afterEach(() => ddb.reset());

const now = new Date("2030-01-01T00:00:00.000Z");
interface Row {
  id: string;
  feed: string;
  createdAt: string;
  expiresAt: string;
}

function model(rows: Row[]) {
  const order = (a: Row, b: Row) =>
    a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1;
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    const values = input.ExpressionAttributeValues as Record<string, string>;
    let partition = rows.filter((row) => row.feed === values[":pk"]).sort(order);
    if (values[":sk"] !== undefined)
      partition = partition.filter((row) => row.createdAt <= (values[":sk"] as string));
    const start = input.ExclusiveStartKey as Row | undefined;
    if (start) partition = partition.slice(partition.findIndex((row) => row.id === start.id) + 1);
    const evaluated = partition.slice(0, input.Limit);
    const more = partition.length > evaluated.length;
    const last = evaluated.at(-1);
    return {
      Items: evaluated
        .filter((row) => row.expiresAt > (values[":now"] as string))
        .map((row) => ({ ...row, userId: "u", isActive: true })),
      ScannedCount: evaluated.length,
      ...(more && last && { LastEvaluatedKey: { id: last.id, feed: last.feed, createdAt: last.createdAt } }),
    };
  });
}

const live = "2030-02-01T00:00:00.000Z";
const dead = "2029-01-01T00:00:00.000Z";
const row = (id: string, second: number, expiresAt = live): Row => ({
  id,
  feed: feedOf(id),
  createdAt: new Date(Date.UTC(2029, 11, 1, 0, 0, second)).toISOString(),
  expiresAt,
});

async function walk(limit: number) {
  const seen: string[] = [];
  const times: string[] = [];
  let startKey: PageKey | undefined;
  let pages = 0;
  do {
    const page = await readFeed({ limit, offset: 0, startKey }, now);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    seen.push(...page.items.map((s) => s.id));
    times.push(...page.items.map((s) => s.createdAt));
    startKey = page.nextKey;
    pages++;
    expect(pages).toBeLessThan(1_000);
  } while (startKey);
  return { seen, times, pages };
}

const newestFirst = (rows: Row[]) =>
  [...rows].sort((a, b) => (a.createdAt === b.createdAt ? 0 : a.createdAt < b.createdAt ? 1 : -1));

describe("the sharded feed", () => {
  it("walks every live session once, newest first, through its cursors, with ties in created_at", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ second: fc.integer({ min: 0, max: 40 }), expired: fc.boolean() }), {
          maxLength: 120,
        }),
        fc.integer({ min: 1, max: 12 }),
        async (specs, limit) => {
          ddb.reset();
          const rows = specs.map((spec, i) => row(`s${i}x`, spec.second, spec.expired ? dead : live));
          model(rows);
          const { seen, times } = await walk(limit);
          const expected = newestFirst(rows.filter((r) => r.expiresAt === live));
          expect(seen).toHaveLength(expected.length);
          expect(new Set(seen)).toEqual(new Set(expected.map((r) => r.id)));
          expect(times).toEqual(expected.map((r) => r.createdAt));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("reads about a page's worth per shard, not the whole table", async () => {
    model(Array.from({ length: 2_000 }, (_, i) => row(`r${i}`, i % 3_600)));
    const page = await readFeed({ limit: 10, offset: 0 }, now);
    expect(page.items).toHaveLength(10);
    const limits = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input.Limit ?? 0);
    expect(limits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(16 * 4 + 16);
  });

  it("reads a page in one round when one shard holds two of its newest items", async () => {
    // Eleven newest sessions (a page of 10 and the one that tells more follow): two in one shard, the
    // others in nine other shards; older sessions in every shard behind them.
    const byShard = new Map<string, string[]>();
    for (let i = 0; byShard.size < 16 || (byShard.get(feedOf("n0")) ?? []).length < 2; i++) {
      const id = `n${i}`;
      byShard.set(feedOf(id), [...(byShard.get(feedOf(id)) ?? []), id]);
    }
    const [twice, ...others] = [...byShard.values()];
    const newest = [...(twice ?? []).slice(0, 2), ...others.slice(0, 9).map((ids) => ids[0] as string)];
    const older = [...byShard.values()]
      .flatMap((ids) => ids.slice(2))
      .concat(Array.from({ length: 300 }, (_, i) => `o${i}`));
    model([...newest.map((id, i) => row(id, 3_000 - i)), ...older.map((id, i) => row(id, i % 2_000))]);
    const page = await readFeed({ limit: 10, offset: 0 }, now);
    expect(page.items.map((s) => s.id)).toEqual(newest.slice(0, 10));
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(16);
  });

  it("skips offset items across shards", async () => {
    const rows = Array.from({ length: 50 }, (_, i) => row(`o${i}`, i));
    model(rows);
    const page = await readFeed({ limit: 5, offset: 7 }, now);
    expect(page.items.map((s) => s.id)).toEqual(
      newestFirst(rows)
        .slice(7, 12)
        .map((r) => r.id),
    );
  });

  it("sees no duplicate and no gap while newer sessions keep arriving during a walk", async () => {
    const rows = Array.from({ length: 200 }, (_, i) => row(`w${i}`, i % 60));
    const before = newestFirst(rows).map((r) => r.id);
    model(rows);
    const seen: string[] = [];
    let startKey: PageKey | undefined;
    let n = 0;
    do {
      const page = await readFeed({ limit: 7, offset: 0, startKey }, now);
      seen.push(...page.items.map((s) => s.id));
      startKey = page.nextKey;
      // Newer sessions arrive between two pages, in every shard.
      for (let k = 0; k < 32; k++) rows.push(row(`new${n}-${k}`, 100 + n));
      n++;
    } while (startKey);
    expect(seen).toHaveLength(before.length);
    expect(new Set(seen)).toEqual(new Set(before));
    const time = new Map(rows.map((r) => [r.id, r.createdAt]));
    const times = seen.map((id) => time.get(id) as string);
    expect(times).toEqual([...times].sort().reverse());
  });

  it("answers a short page with every shard's position once the budget is spent, and resumes from them", async () => {
    const rows = [
      ...Array.from({ length: PAGE_BUDGET + 500 }, (_, i) => row(`x${i}`, 100 + (i % 3_000), dead)),
      ...Array.from({ length: 5 }, (_, i) => row(`l${i}`, i)),
    ];
    model(rows);
    const first = await readFeed({ limit: 3, offset: 0 }, now);
    const evaluated = ddb
      .commandCalls(QueryCommand)
      .reduce((sum, c) => sum + (c.args[0].input.Limit ?? 0), 0);
    expect(evaluated).toBeLessThanOrEqual(PAGE_BUDGET);
    expect(first.items).toEqual([]);
    expect(first.nextKey).toBeDefined();
    const { seen } = await (async () => {
      const ids: string[] = [];
      let startKey = first.nextKey;
      while (startKey) {
        const page = await readFeed({ limit: 3, offset: 0, startKey }, now);
        ids.push(...page.items.map((s) => s.id));
        startKey = page.nextKey;
      }
      return { seen: ids };
    })();
    expect(seen).toEqual(["l4", "l3", "l2", "l1", "l0"]);
  });

  it("refuses a cursor position that names no shard or is malformed", async () => {
    model([]);
    const bad: PageKey[] = [
      { "99": "" },
      { all: "" },
      { "0": "2029-01-01T00:00:00.000Z" },
      { "0": "a|b|c" },
      { at: "yesterday", "0": "" },
    ];
    for (const startKey of bad) {
      await expect(readFeed({ limit: 3, offset: 0, startKey }, now)).rejects.toMatchObject({ status: 400 });
    }
  });
});
