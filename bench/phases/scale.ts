import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import type { RouteId } from "../../lib/routes.ts";
import { FEED } from "../../lib/table.ts";
import type { CapacityTotals } from "../capacity.ts";
import { type Bench, type Call, type Service, TABLE_NAME, withoutRequestLogs } from "../context.ts";
import { adminToken, rawPage, seedSessions } from "../fixtures.ts";
import { cu, ms, type PhaseOutcome, ratio, verdict } from "../report.ts";
import { type Summary, summarize } from "../stats.ts";
import { invokeRoute } from "./capacity.ts";

// Phase 5: the same reads on a small table and on a large one (fresh table each, seeded with
// BatchWriteItem in the store's item layout, the same sessions per user), through the real handlers.
// The admin list is read at its first page and at a page 90% deep, reached by walking the Link cursors.

const TARGET_RATIO = 1.2;
const WARMUP = 20;
const CAPACITY_SAMPLES = 10;
const DEEP_FRACTION = 0.9;
const WALK_LIMIT = 100;

const OPERATIONS = ["get", "last", "list-by-user", "admin page (first)", "admin page (deep)"] as const;
type Operation = (typeof OPERATIONS)[number];

interface SizeFigures {
  sessions: number;
  users: number;
  seedSeconds: number;
  walk: { pages: number; sessions: number; seconds: number };
  operations: Record<
    Operation,
    { latency: Summary; raw: Summary; readCapacityPerPage: number; capacity: CapacityTotals }
  >;
}

const cursorOf = (link: string | undefined) => {
  const match = /<([^>]+)>/.exec(link ?? "");
  return match ? (new URL(match[1]!, "http://localhost").searchParams.get("cursor") ?? undefined) : undefined;
};

async function measureSize(bench: Bench, service: Service, sessions: number): Promise<SizeFigures> {
  const { options } = bench;
  await service.resetTable();
  bench.log(
    `scale: seeding ${sessions.toLocaleString("en-US")} sessions over ${Math.ceil(sessions / options.sessionsPerUser).toLocaleString("en-US")} users`,
  );
  const seeded = await seedSessions(service, {
    sessions,
    perUser: options.sessionsPerUser,
    prefix: `scale${sessions}`,
    progress: (line) => bench.log(`scale: ${line}`),
  });
  const admin = await adminToken();

  return withoutRequestLogs(async () => {
    bench.log(`scale: walking the admin list ${Math.round(DEEP_FRACTION * 100)}% deep, ${WALK_LIMIT} a page`);
    const walkStart = performance.now();
    let cursor: string | undefined;
    let walked = 0;
    let pages = 0;
    while (walked < DEEP_FRACTION * sessions) {
      const query: Record<string, string> = { limit: String(WALK_LIMIT) };
      if (cursor) query.cursor = cursor;
      const result = await invokeRoute(service, "AdminListSessions", { token: admin, query }, 200);
      walked += (JSON.parse(result.body as string) as unknown[]).length;
      pages++;
      cursor = cursorOf(result.headers?.link as string | undefined);
      if (!cursor) throw new Error(`the admin list ended after ${walked} of ${sessions} sessions`);
    }
    const walk = { pages, sessions: walked, seconds: (performance.now() - walkStart) / 1000 };
    const deepCursor = cursor as string;
    const { decodeCursor } = await import("../../functions/shared/cursor.ts");
    const deepKey = await decodeCursor("all", deepCursor);

    // The same reads issued directly: how DynamoDB Local itself scales, apart from the service.
    const query = (
      index: "byUser" | "byCreated",
      pk: string,
      limit: number,
      start?: Record<string, string>,
    ) => rawPage(service.client, index, pk, limit, start);

    const pick = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)] as T;
    // Each pair of calls reads the same session or user: one random draw serves the handler and the raw side.
    const draw = () => ({ id: pick(seeded.ids), user: pick(seeded.users) });
    type Draw = ReturnType<typeof draw>;
    const raws: Record<Operation, (d: Draw) => Promise<unknown>> = {
      get: (d) =>
        service.client.send(
          new GetItemCommand({ TableName: TABLE_NAME, Key: { id: { S: d.id } }, ConsistentRead: true }),
        ),
      last: (d) => query("byUser", d.user, 1),
      "list-by-user": (d) => query("byUser", d.user, 11),
      "admin page (first)": () => query("byCreated", FEED, 11),
      "admin page (deep)": () => query("byCreated", FEED, 11, deepKey),
    };
    const calls: Record<Operation, (d: Draw) => [RouteId, Call]> = {
      get: (d) => ["AdminGetSession", { token: admin, params: { id: d.id } }],
      last: (d) => ["AdminLastUserSession", { token: admin, params: { user_id: d.user } }],
      "list-by-user": (d) => [
        "AdminListUserSessions",
        { token: admin, params: { user_id: d.user }, query: { limit: "10" } },
      ],
      "admin page (first)": () => ["AdminListSessions", { token: admin, query: { limit: "10" } }],
      "admin page (deep)": () => [
        "AdminListSessions",
        { token: admin, query: { limit: "10", cursor: deepCursor } },
      ],
    };

    const iterations = options.scaleIterations;
    bench.log(`scale: ${iterations} calls of each of ${OPERATIONS.length} operations, interleaved`);
    const times = new Map<Operation, number[]>(OPERATIONS.map((op) => [op, []]));
    const rawTimes = new Map<Operation, number[]>(OPERATIONS.map((op) => [op, []]));
    for (let i = 0; i < WARMUP + iterations; i++) {
      // The operations take turns at following the slow deep page, and the handler and the raw
      // command take turns at going first, so neither side always meets the emulator just after it.
      const order = OPERATIONS.map((_, k) => OPERATIONS[(k + i) % OPERATIONS.length]!);
      for (const op of order) {
        const d = draw();
        const [id, call] = calls[op](d);
        const handlerSide = async () => {
          const start = performance.now();
          await invokeRoute(service, id, call, 200);
          if (i >= WARMUP) times.get(op)!.push(performance.now() - start);
        };
        const rawSide = async () => {
          const start = performance.now();
          await raws[op](d);
          if (i >= WARMUP) rawTimes.get(op)!.push(performance.now() - start);
        };
        if (i % 2 === 0) {
          await handlerSide();
          await rawSide();
        } else {
          await rawSide();
          await handlerSide();
        }
      }
    }
    const operations = {} as SizeFigures["operations"];
    for (const op of OPERATIONS) {
      let last: CapacityTotals | undefined;
      let reads = 0;
      for (let k = 0; k < CAPACITY_SAMPLES; k++) {
        const [id, call] = calls[op](draw());
        const { capacity } = await service.recorder.measure(() => invokeRoute(service, id, call, 200));
        reads += capacity.read;
        last = capacity;
      }
      operations[op] = {
        latency: summarize(times.get(op)!),
        raw: summarize(rawTimes.get(op)!),
        readCapacityPerPage: reads / CAPACITY_SAMPLES,
        capacity: last!,
      };
    }
    return { sessions, users: seeded.users.length, seedSeconds: seeded.seconds, walk, operations };
  });
}

export async function scalePhase(bench: Bench): Promise<PhaseOutcome> {
  const service = await bench.services();
  // The small table is measured twice: first to warm Node's and DynamoDB Local's JIT (recorded in
  // results.json only), then after the large one, so both compared figures are taken warm.
  const warmUp = await measureSize(bench, service, bench.options.smallSessions);
  const large = await measureSize(bench, service, bench.options.sessions);
  const small = await measureSize(bench, service, bench.options.smallSessions);
  await service.resetTable();
  const label = (n: number) => n.toLocaleString("en-US");
  const rows = OPERATIONS.map((op) => {
    const s = small.operations[op];
    const l = large.operations[op];
    const r50 = l.latency.p50 / s.latency.p50;
    return [
      op,
      ms(s.latency.p50),
      ms(s.latency.p99),
      ms(l.latency.p50),
      ms(l.latency.p99),
      ratio(r50),
      ratio(l.latency.p99 / s.latency.p99),
      ratio(l.raw.p50 / s.raw.p50),
      `${ms(s.latency.p50 - s.raw.p50)} → ${ms(l.latency.p50 - l.raw.p50)}`,
      cu(s.readCapacityPerPage),
      cu(l.readCapacityPerPage),
      verdict(r50 <= TARGET_RATIO && l.readCapacityPerPage <= s.readCapacityPerPage),
    ];
  });
  return {
    report: {
      title: `5. Scale (${label(small.sessions)} vs ${label(large.sessions)} sessions)`,
      table: {
        headers: [
          "operation",
          `${label(small.sessions)} p50 ms`,
          `${label(small.sessions)} p99 ms`,
          `${label(large.sessions)} p50 ms`,
          `${label(large.sessions)} p99 ms`,
          "ratio p50",
          "ratio p99",
          "raw command ratio p50",
          "handler − raw p50 ms, small → large",
          `read CU/page ${label(small.sessions)}`,
          `read CU/page ${label(large.sessions)}`,
          "p50 ≤ 1.2x, CU equal",
        ],
        rows,
      },
      notes: [
        `${bench.options.sessionsPerUser} sessions per user in both tables; pages of 10; ${bench.options.scaleIterations} calls per operation and size, interleaved (the operations rotate, handler and raw alternate going first, and each pair reads the same random session or user); tables in order: small (warm-up, not compared), large, small`,
        "raw command ratio: the same GetItem or Query issued directly with the store's client, alternating with the handler calls: the part of the growth that is DynamoDB Local's own; handler − raw: the service's own time at each size",
        `seeding took ${small.seedSeconds.toFixed(1)} s and ${large.seedSeconds.toFixed(1)} s (${Math.round(large.sessions / large.seedSeconds)} sessions/s with BatchWriteItem); the deep page is ${label(large.walk.sessions)} sessions in, reached in ${large.walk.pages} pages of ${WALK_LIMIT} (${large.walk.seconds.toFixed(1)} s)`,
      ],
    },
    data: { targetRatio: TARGET_RATIO, small, large, smallWarmUp: warmUp },
  };
}
