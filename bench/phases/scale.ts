import { type DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import type { RouteId } from "../../lib/routes.ts";
import type { CapacityTotals } from "../capacity.ts";
import { type Bench, type Call, type Service, TABLE_NAME, withoutRequestLogs } from "../context.ts";
import { adminToken, rawFeedPage, rawPage, type Seeded, seedSessions } from "../fixtures.ts";
import { cu, ms, type PhaseOutcome, ratio, verdict } from "../report.ts";
import { type Summary, summarize } from "../stats.ts";
import { invokeRoute } from "./capacity.ts";

// Phase 5: the same reads on a small table and on a large one, through the real handlers. Both tables
// live side by side in one DynamoDB Local (seeded with BatchWriteItem in the store's item layout, the
// same sessions per user) and are read in turns, call by call: the emulator's state and the machine's
// load are the same for both sizes, only the table differs. A middleware on the store's client sends
// its reads to the table being measured (the store itself is not modified). The admin list is read at
// its first page and at a page 90% deep, reached by walking the Link cursors.

const TARGET_RATIO = 1.2;
const WARMUP = 20;
const CAPACITY_SAMPLES = 10;
const DEEP_FRACTION = 0.9;
const WALK_LIMIT = 100;
const SMALL_TABLE = `${TABLE_NAME}-small`;

const OPERATIONS = ["get", "last", "list-by-user", "admin page (first)", "admin page (deep)"] as const;
type Operation = (typeof OPERATIONS)[number];

interface SizeFigures {
  table: string;
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

/** Points every command the store's client sends at `table` while `use` runs (sequential calls only). */
function tableRouter(client: DynamoDBClient) {
  const NAME = "benchScaleTableRouter";
  let table: string | undefined;
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { TableName?: string };
      if (table !== undefined && typeof input.TableName === "string") {
        return next({ ...args, input: { ...input, TableName: table } });
      }
      return next(args);
    },
    { step: "initialize", name: NAME },
  );
  return {
    async use<T>(name: string, fn: () => Promise<T>): Promise<T> {
      table = name;
      try {
        return await fn();
      } finally {
        table = undefined;
      }
    },
    remove: () => client.middlewareStack.remove(NAME),
  };
}

type Router = ReturnType<typeof tableRouter>;

interface Prepared {
  table: string;
  sessions: number;
  seeded: Seeded;
  walk: SizeFigures["walk"];
  deepCursor: string;
  deepKey: Record<string, string>;
}

/** Seeds one table and walks its admin list to the deep page's cursor. */
async function prepare(
  bench: Bench,
  service: Service,
  router: Router,
  table: string,
  sessions: number,
  admin: string,
): Promise<Prepared> {
  const { options } = bench;
  await service.resetTable(table);
  bench.log(
    `scale: seeding ${sessions.toLocaleString("en-US")} sessions over ${Math.ceil(sessions / options.sessionsPerUser).toLocaleString("en-US")} users into ${table}`,
  );
  const seeded = await seedSessions(service, {
    sessions,
    perUser: options.sessionsPerUser,
    prefix: `scale${sessions}`,
    progress: (line) => bench.log(`scale: ${line}`),
    table,
  });
  bench.log(
    `scale: walking the admin list of ${table} ${Math.round(DEEP_FRACTION * 100)}% deep, ${WALK_LIMIT} a page`,
  );
  const walkStart = performance.now();
  let cursor: string | undefined;
  let walked = 0;
  let pages = 0;
  await router.use(table, async () => {
    while (walked < DEEP_FRACTION * sessions) {
      const query: Record<string, string> = { limit: String(WALK_LIMIT) };
      if (cursor) query.cursor = cursor;
      const result = await invokeRoute(service, "AdminListSessions", { token: admin, query }, 200);
      walked += (JSON.parse(result.body as string) as unknown[]).length;
      pages++;
      cursor = cursorOf(result.headers?.link as string | undefined);
      if (!cursor) throw new Error(`the admin list ended after ${walked} of ${sessions} sessions`);
    }
  });
  const walk = { pages, sessions: walked, seconds: (performance.now() - walkStart) / 1000 };
  const { decodeCursor } = await import("../../functions/shared/cursor.ts");
  const deepKey = await decodeCursor("all", cursor as string);
  return { table, sessions, seeded, walk, deepCursor: cursor as string, deepKey };
}

async function measure(
  bench: Bench,
  service: Service,
  router: Router,
  sizes: readonly Prepared[],
  admin: string,
): Promise<SizeFigures[]> {
  // The same reads issued directly: how DynamoDB Local itself scales, apart from the service.
  const query = (index: "byUser" | "byCreated", pk: string, limit: number, start?: Record<string, string>) =>
    rawPage(service.client, index, pk, limit, start);
  const pick = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)] as T;
  // Each pair of calls reads the same session or user: one random draw serves the handler and the raw side.
  const draw = (size: Prepared) => ({ id: pick(size.seeded.ids), user: pick(size.seeded.users), size });
  type Draw = ReturnType<typeof draw>;
  const raws: Record<Operation, (d: Draw) => Promise<unknown>> = {
    get: (d) =>
      service.client.send(
        new GetItemCommand({ TableName: TABLE_NAME, Key: { id: { S: d.id } }, ConsistentRead: true }),
      ),
    last: (d) => query("byUser", d.user, 1),
    "list-by-user": (d) => query("byUser", d.user, 11),
    "admin page (first)": () => rawFeedPage(service.client, 10),
    "admin page (deep)": (d) => rawFeedPage(service.client, 10, d.size.deepKey),
  };
  const calls: Record<Operation, (d: Draw) => [RouteId, Call]> = {
    get: (d) => ["AdminGetSession", { token: admin, params: { id: d.id } }],
    last: (d) => ["AdminLastUserSession", { token: admin, params: { user_id: d.user } }],
    "list-by-user": (d) => [
      "AdminListUserSessions",
      { token: admin, params: { user_id: d.user }, query: { limit: "10" } },
    ],
    "admin page (first)": () => ["AdminListSessions", { token: admin, query: { limit: "10" } }],
    "admin page (deep)": (d) => [
      "AdminListSessions",
      { token: admin, query: { limit: "10", cursor: d.size.deepCursor } },
    ],
  };

  const iterations = bench.options.scaleIterations;
  bench.log(`scale: ${iterations} calls of each of ${OPERATIONS.length} operations on each table, in turns`);
  const key = (size: Prepared, op: Operation) => `${size.table} ${op}`;
  const times = new Map<string, number[]>();
  const rawTimes = new Map<string, number[]>();
  for (const size of sizes) {
    for (const op of OPERATIONS) {
      times.set(key(size, op), []);
      rawTimes.set(key(size, op), []);
    }
  }
  await withoutRequestLogs(async () => {
    for (let i = 0; i < WARMUP + iterations; i++) {
      // The operations take turns at following the slow deep page, the two tables at going first, and
      // the handler and the raw command at going first, so no side always meets the emulator after
      // the same call.
      const order = OPERATIONS.map((_, k) => OPERATIONS[(k + i) % OPERATIONS.length]!);
      const tables = i % 2 === 0 ? sizes : [...sizes].reverse();
      for (const op of order) {
        for (const size of tables) {
          const d = draw(size);
          const [id, call] = calls[op](d);
          const handlerSide = async () => {
            const start = performance.now();
            await invokeRoute(service, id, call, 200);
            if (i >= WARMUP) times.get(key(size, op))!.push(performance.now() - start);
          };
          const rawSide = async () => {
            const start = performance.now();
            await raws[op](d);
            if (i >= WARMUP) rawTimes.get(key(size, op))!.push(performance.now() - start);
          };
          await router.use(size.table, async () => {
            if (Math.floor(i / 2) % 2 === 0) {
              await handlerSide();
              await rawSide();
            } else {
              await rawSide();
              await handlerSide();
            }
          });
        }
      }
    }
  });

  const figures: SizeFigures[] = [];
  for (const size of sizes) {
    const operations = {} as SizeFigures["operations"];
    for (const op of OPERATIONS) {
      let last: CapacityTotals | undefined;
      let reads = 0;
      for (let k = 0; k < CAPACITY_SAMPLES; k++) {
        const [id, call] = calls[op](draw(size));
        const { capacity } = await router.use(size.table, () =>
          withoutRequestLogs(() => service.recorder.measure(() => invokeRoute(service, id, call, 200))),
        );
        reads += capacity.read;
        last = capacity;
      }
      operations[op] = {
        latency: summarize(times.get(key(size, op))!),
        raw: summarize(rawTimes.get(key(size, op))!),
        readCapacityPerPage: reads / CAPACITY_SAMPLES,
        capacity: last!,
      };
    }
    figures.push({
      table: size.table,
      sessions: size.sessions,
      users: size.seeded.users.length,
      seedSeconds: size.seeded.seconds,
      walk: size.walk,
      operations,
    });
  }
  return figures;
}

export async function scalePhase(bench: Bench): Promise<PhaseOutcome> {
  const service = await bench.services();
  const router = tableRouter(service.client);
  const admin = await adminToken();
  let small: SizeFigures;
  let large: SizeFigures;
  try {
    const prepared = [
      await prepare(bench, service, router, SMALL_TABLE, bench.options.smallSessions, admin),
      await prepare(bench, service, router, TABLE_NAME, bench.options.sessions, admin),
    ];
    // Each table answers for its own sessions only: the reads really go where they are sent.
    for (const [own, other] of [prepared, [...prepared].reverse()] as [Prepared, Prepared][]) {
      await router.use(own.table, () =>
        withoutRequestLogs(async () => {
          await invokeRoute(
            service,
            "AdminGetSession",
            { token: admin, params: { id: own.seeded.ids[0]! } },
            200,
          );
          await invokeRoute(
            service,
            "AdminGetSession",
            { token: admin, params: { id: other.seeded.ids[0]! } },
            404,
          );
        }),
      );
    }
    [small, large] = (await measure(bench, service, router, prepared, admin)) as [SizeFigures, SizeFigures];
  } finally {
    router.remove();
    await service.dropTable(SMALL_TABLE);
    await service.resetTable();
  }
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
        `${bench.options.sessionsPerUser} sessions per user in both tables; pages of 10; ${bench.options.scaleIterations} calls per operation and size after ${WARMUP} warm-up rounds; both tables side by side in one DynamoDB Local, read in turns call by call (the operations rotate, the tables and handler/raw alternate going first, and each pair reads the same random session or user)`,
        "raw command ratio: the same GetItem or Query issued directly with the store's client, alternating with the handler calls: the part of the growth that is DynamoDB Local's own; handler − raw: the service's own time at each size",
        `seeding took ${small.seedSeconds.toFixed(1)} s and ${large.seedSeconds.toFixed(1)} s (${Math.round(large.sessions / large.seedSeconds)} sessions/s with BatchWriteItem); the deep page is ${label(large.walk.sessions)} sessions in, reached in ${large.walk.pages} pages of ${WALK_LIMIT} (${large.walk.seconds.toFixed(1)} s)`,
      ],
    },
    data: { targetRatio: TARGET_RATIO, small, large },
  };
}
