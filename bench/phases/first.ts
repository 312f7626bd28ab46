import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Route, type RouteId, usesStore } from "../../lib/routes.ts";
import { type Bench, type Call, eventFor, functionEnv, routeById, type Service } from "../context.ts";
import { adminToken, DAY_MS, newId, signToken } from "../fixtures.ts";
import { ms, type PhaseOutcome, ratio, verdict } from "../report.ts";
import { median } from "../stats.ts";
import { type BundleFigure, buildAll } from "./bundle.ts";

// Phase `first`: the cold start as a user feels it. A fresh Node process per run imports one bundle
// and serves one authenticated request, as a Lambda function's first invocation does: its HS256 key
// read from a Secrets Manager stub on loopback, its reads and writes on DynamoDB Local. The floor is
// bench/reference/lean-request.ts (middy, jose, a DocumentClient GetItem, the same key read), built
// and started the same way; every function's run is paired with a floor run, in turns.

const TARGET_RATIO = 1.1;
const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-jwt-AbCdEf";
const FLOOR = "RefLeanRequest";

/**
 * Runs inside each fresh process: import the bundle, serve one event with a Lambda-like context, and
 * report both durations on stderr (the function's own log line goes to stdout). A keep-alive socket
 * would hold the process open: it exits when done.
 */
const DRIVER = `
const [url, eventText, warmText] = process.argv.slice(1);
const started = performance.now();
const { handler } = await import(url);
const imported = performance.now();
const deadline = Date.now() + 10_000;
const context = { awsRequestId: "first", functionName: "first", getRemainingTimeInMillis: () => deadline - Date.now() };
const result = await handler(JSON.parse(eventText), context);
const answered = performance.now();
const second = await handler(JSON.parse(warmText), { ...context, awsRequestId: "second" });
const warm = performance.now();
process.stderr.write("\\nfirst-request " + JSON.stringify({ importMs: imported - started, requestMs: answered - imported, warmMs: warm - answered, status: result?.statusCode, warmStatus: second?.statusCode }) + "\\n");
process.exit(0);
`;

interface Sample {
  importMs: number;
  requestMs: number;
  /** The same request for another session, right after, in the same process: the route's own work. */
  warmMs: number;
  wallMs: number;
}

interface Prepared {
  event: ReturnType<typeof eventFor>;
  status: number;
  /** The second, warm request: the same route for another user and session. */
  warm: ReturnType<typeof eventFor>;
}

/** One Secrets Manager stub for the phase: every GetSecretValue answers the functions' key. */
async function secretsStub(): Promise<{ url: string; server: Server; calls: () => number }> {
  let calls = 0;
  const server = createServer((req, res) => {
    calls++;
    req.resume();
    req.on("end", () => {
      const ok = req.headers["x-amz-target"] === "secretsmanager.GetSecretValue";
      res
        .writeHead(ok ? 200 : 400, { "content-type": "application/x-amz-json-1.1" })
        .end(JSON.stringify(ok ? { ARN: SECRET_ARN, SecretString: functionEnv.JWT_SECRET } : {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, server, calls: () => calls };
}

/** A user with one live session, and that session's access token (`sid`-bound, as a client holds it). */
async function userWithSession(service: Service, user: string) {
  const id = newId();
  await service.store.createSession({
    id,
    userId: user,
    createdAt: new Date(),
    expiresAt: new Date(Date.now() + DAY_MS),
    ipAddress: null,
    userAgent: "bench/1.0",
    profile: null,
    tokenDigest: null,
  });
  return { id, token: await signToken({ sub: user, sid: id }) };
}

/** The requests a route's first and second invocations serve, each on fresh state. */
async function prepare(service: Service, route: Route, run: number): Promise<Prepared> {
  const first = await planOne(service, route, run);
  const second = await planOne(service, route, run);
  return { ...first, warm: second.event };
}

async function planOne(service: Service, route: Route, run: number) {
  const user = `first-${route.id}-${run}-${newId().slice(0, 6)}`;
  const admin = await adminToken();
  const own = await userWithSession(service, user);
  const calls: Partial<Record<RouteId, { call: Call; status: number }>> = {
    AdminCreateSession: { call: { token: admin, body: { userId: user } }, status: 201 },
    AdminCreateUserSession: { call: { token: admin, params: { user_id: user } }, status: 201 },
    AdminListSessions: { call: { token: admin, query: { limit: "10" } }, status: 200 },
    AdminIntrospect: { call: { token: admin, body: { token: own.token } }, status: 200 },
    AdminGetSession: { call: { token: admin, params: { id: own.id } }, status: 200 },
    AdminDeleteSession: { call: { token: admin, params: { id: own.id } }, status: 200 },
    AdminListUserSessions: { call: { token: admin, params: { user_id: user } }, status: 200 },
    AdminLastUserSession: { call: { token: admin, params: { user_id: user } }, status: 200 },
    AdminDeleteUserSessions: { call: { token: admin, params: { user_id: user } }, status: 200 },
    UserListSessions: { call: { token: own.token }, status: 200 },
    UserDeleteAllSessions: { call: { token: own.token }, status: 200 },
    UserCurrentSession: { call: { token: own.token }, status: 200 },
    UserDeleteSession: { call: { token: own.token, params: { id: own.id } }, status: 200 },
    UserDeactivateSession: { call: { token: own.token, params: { id: own.id } }, status: 200 },
    Fallback: { call: { token: admin, path: "/sessions/" }, status: 200 },
  };
  const planned = calls[route.id as RouteId];
  if (!planned) throw new Error(`first: no request planned for ${route.id}; add one`);
  return { event: eventFor(route, planned.call), status: planned.status };
}

/** The floor's requests: the lean handler reads the session its token's `sid` names. */
async function prepareFloor(service: Service, run: number): Promise<Prepared> {
  const event = async () => {
    const own = await userWithSession(service, `first-floor-${run}-${newId().slice(0, 6)}`);
    return eventFor(routeById("AdminGetSession"), { token: own.token, params: { id: own.id } });
  };
  return { event: await event(), status: 200, warm: await event() };
}

/** One fresh process. Not spawnSync: the Secrets Manager stub answers from this process's event loop. */
async function runOnce(
  file: string,
  prepared: Prepared,
  env: Record<string, string>,
  what: string,
  nodeOptions: string[] = [],
): Promise<Sample> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...nodeOptions,
      "--input-type=module",
      "-e",
      DRIVER,
      pathToFileURL(file).href,
      JSON.stringify(prepared.event),
      JSON.stringify(prepared.warm),
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const status = await new Promise<number | null>((resolve) => child.once("close", resolve));
  const wallMs = performance.now() - started;
  const line = /first-request (\{.*\})/.exec(stderr)?.[1];
  if (status !== 0 || !line) throw new Error(`${what}: exit ${status}: ${stderr.slice(-2000)}`);
  const reported = JSON.parse(line) as Omit<Sample, "wallMs"> & { status: number; warmStatus: number };
  if (reported.status !== prepared.status || reported.warmStatus !== prepared.status) {
    throw new Error(
      `${what}: expected ${prepared.status} twice, got ${reported.status} and ${reported.warmStatus}: ${stdout.slice(-2000)}`,
    );
  }
  return { importMs: reported.importMs, requestMs: reported.requestMs, warmMs: reported.warmMs, wallMs };
}

export async function firstPhase(bench: Bench): Promise<PhaseOutcome> {
  const service = await bench.services();
  const { functions, references } = await buildAll(bench);
  const floor = references.find((r) => r.id === FLOOR) as BundleFigure;
  const measured = functions.filter((fn) => usesStore(routeById(fn.id as RouteId)));
  const stub = await secretsStub();
  bench.defer(() => new Promise<void>((resolve) => stub.server.close(() => resolve())));
  // What a deployed function has: its table, the secret's ARN (no key in the environment), role
  // credentials; the endpoints point at the local stand-ins.
  const { JWT_SECRET: _key, ...lambdaEnv } = functionEnv;
  const env = {
    ...lambdaEnv,
    JWT_SECRET_ARN: SECRET_ARN,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: stub.url,
    DYNAMODB_ENDPOINT: service.endpoint,
    PATH: process.env.PATH ?? "",
  };
  const runs = bench.options.coldRuns;
  const samples = new Map<string, Sample[]>(measured.map((fn) => [fn.id, []]));
  const floorSamples = new Map<string, Sample[]>(measured.map((fn) => [fn.id, []]));

  // Page cache and disk warm, and every request checked once before anything is timed.
  await runOnce(floor.file, await prepareFloor(service, -1), env, FLOOR);
  for (const fn of measured) {
    await runOnce(fn.file, await prepare(service, routeById(fn.id as RouteId), -1), env, fn.id);
  }
  for (let round = 0; round < runs; round++) {
    bench.log(`first: round ${round + 1}/${runs} (${measured.length} functions, each paired with the floor)`);
    for (const [i, fn] of measured.entries()) {
      const own = await prepare(service, routeById(fn.id as RouteId), round);
      const base = await prepareFloor(service, round);
      // The pair's order alternates, so neither side always runs right after the other.
      const order = (round + i) % 2 === 0 ? ["fn", "floor"] : ["floor", "fn"];
      for (const side of order) {
        if (side === "fn") samples.get(fn.id)?.push(await runOnce(fn.file, own, env, fn.id));
        else floorSamples.get(fn.id)?.push(await runOnce(floor.file, base, env, FLOOR));
      }
    }
  }

  const profiles = bench.options.profile;
  if (profiles) {
    bench.log(`first: one profiled run per bundle into ${profiles}`);
    const profiled = (id: string) => [
      "--cpu-prof",
      "--cpu-prof-interval",
      "100",
      "--cpu-prof-dir",
      join(resolve(profiles), id),
    ];
    await runOnce(floor.file, await prepareFloor(service, runs), env, FLOOR, profiled(FLOOR));
    for (const fn of measured) {
      const prepared = await prepare(service, routeById(fn.id as RouteId), runs);
      await runOnce(fn.file, prepared, env, fn.id, profiled(fn.id));
    }
  }

  const floorAll = [...floorSamples.values()].flat();
  const m = (list: Sample[], value: (s: Sample) => number) => median(list.map(value));
  const coldPart = (s: Sample) => s.requestMs - s.warmMs;
  const floorMedian = {
    importMs: m(floorAll, (s) => s.importMs),
    requestMs: m(floorAll, (s) => s.requestMs),
    warmMs: m(floorAll, (s) => s.warmMs),
    coldPartMs: m(floorAll, coldPart),
    wallMs: m(floorAll, (s) => s.wallMs),
  };
  const figures = measured.map((fn) => {
    const own = samples.get(fn.id) as Sample[];
    const paired = floorSamples.get(fn.id) as Sample[];
    const side = (list: Sample[]) => ({
      importMs: m(list, (s) => s.importMs),
      requestMs: m(list, (s) => s.requestMs),
      warmMs: m(list, (s) => s.warmMs),
      coldPartMs: m(list, coldPart),
      wallMs: m(list, (s) => s.wallMs),
    });
    const mine = side(own);
    const floorSide = side(paired);
    return {
      id: fn.id,
      bytes: fn.bytes,
      ...mine,
      floor: floorSide,
      importRatio: mine.importMs / floorSide.importMs,
      requestRatio: mine.requestMs / floorSide.requestMs,
      coldPartRatio: mine.coldPartMs / floorSide.coldPartMs,
    };
  });
  const worst = (key: "importRatio" | "requestRatio" | "coldPartRatio") =>
    figures.reduce((a, b) => (b[key] > a[key] ? b : a));
  const [worstImport, worstRequest, worstCold] = [
    worst("importRatio"),
    worst("requestRatio"),
    worst("coldPartRatio"),
  ];
  return {
    report: {
      title: "10. First request in a fresh process (import + one authenticated request) vs the floor",
      table: {
        headers: [
          "function",
          "import ms",
          "floor import ms",
          "import ratio",
          "first request ms",
          "floor first ms",
          "request ratio",
          "warm request ms",
          "cold part ms",
          "floor cold part ms",
          "cold part ratio",
          `import and cold part ≤ ${TARGET_RATIO}`,
        ],
        rows: figures.map((f) => [
          f.id,
          ms(f.importMs),
          ms(f.floor.importMs),
          ratio(f.importRatio),
          ms(f.requestMs),
          ms(f.floor.requestMs),
          ratio(f.requestRatio),
          ms(f.warmMs),
          ms(f.coldPartMs),
          ms(f.floor.coldPartMs),
          ratio(f.coldPartRatio),
          verdict(f.importRatio <= TARGET_RATIO && f.coldPartRatio <= TARGET_RATIO),
        ]),
      },
      notes: [
        `${runs} fresh processes per function, each paired with a floor process (order alternating); ${floorAll.length} floor processes in all (medians: import ${ms(floorMedian.importMs)} ms, first request ${ms(floorMedian.requestMs)} ms, warm request ${ms(floorMedian.warmMs)} ms, process ${ms(floorMedian.wallMs)} ms); Node ${process.version}`,
        "import: `await import(bundle)` timed inside the process; first request: the handler's first call, which reads the key from the Secrets Manager stub, verifies the token and calls DynamoDB Local; warm request: the same route for another session right after, in the same process (the route's own work); cold part: first minus warm, per process (what being cold adds)",
        "a route that does more than the floor's one GetItem (a list merging 16 shard queries, a delete's transaction) has a longer first request cold or warm; the cold part compares what the cold start itself costs",
        `highest import ratio ${worstImport.id}: ${ratio(worstImport.importRatio)}; highest request ratio ${worstRequest.id}: ${ratio(worstRequest.requestRatio)}; highest cold part ratio ${worstCold.id}: ${ratio(worstCold.coldPartRatio)}`,
        ...(profiles
          ? [
              `a CPU profile of one more run per bundle: ${profiles}/<function>/*.cpuprofile (Chrome DevTools)`,
            ]
          : []),
        `floor: bench/reference/lean-request.ts (middy, jose, a DocumentClient GetItem by the token's sid, its key read from Secrets Manager with the SDK's own signer and HTTP handler); Secrets Manager stub calls: ${stub.calls()}`,
      ],
    },
    data: {
      runsPerFunction: runs,
      floor: floorMedian,
      functions: figures,
      target: TARGET_RATIO,
    },
  };
}
