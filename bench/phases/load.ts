import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { freePort } from "../../lib/dynamodb-local.ts";
import { type Bench, functionEnv, root } from "../context.ts";
import { adminToken } from "../fixtures.ts";
import { ms, type PhaseOutcome, verdict } from "../report.ts";
import { pool } from "../stats.ts";

// Phase 7: the local runner (`node bin/local.ts`, every route in one Node process, as `npm start`)
// on the bench's DynamoDB Local, loaded by autocannon: reads of a user's sessions, then a mix of
// creates and deletes. Afterwards every session a create answered for is read back through the API.

const LOAD_TABLE = "bench-load";
const USERS = 1000;

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (
    request: AutocannonRequest,
    context: Record<string, unknown>,
  ) => AutocannonRequest | undefined;
  onResponse?: (status: number, body: string, context: Record<string, unknown>) => void;
}
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
  statusCodeStats?: Record<string, { count: number }>;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  headers?: Record<string, string>;
  requests?: AutocannonRequest[];
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

export interface LoadFigure {
  name: string;
  requestsPerSecond: number;
  total: number;
  p50: number;
  p99: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
}

function figure(name: string, r: AutocannonResult): LoadFigure {
  return {
    name,
    requestsPerSecond: r.requests.average,
    total: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    statusCodes: Object.fromEntries(
      Object.entries(r.statusCodeStats ?? {}).map(([code, s]) => [code, s.count]),
    ),
  };
}

async function startRunner(bench: Bench, endpoint: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  let stderr = "";
  const child = spawn(process.execPath, [join(root, "bin/local.ts")], {
    cwd: root,
    env: {
      ...process.env,
      ...functionEnv,
      TABLE_NAME: LOAD_TABLE,
      PORT: String(port),
      DYNAMODB_ENDPOINT: endpoint,
      LOCAL_DATA_DIR: join(bench.workdir, "local"),
    },
    // The runner's request log lines go to /dev/null, as written but unread.
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  bench.defer(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const force = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(force);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bin/local.ts exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return { url, child };
    } catch {}
    if (Date.now() > deadline) throw new Error(`bin/local.ts did not answer on ${url}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function loadPhase(bench: Bench): Promise<PhaseOutcome> {
  const { endpoint } = await bench.services();
  const { duration, connections } = bench.options;
  bench.log("load: starting bin/local.ts");
  const { url } = await startRunner(bench, endpoint);
  const admin = `Bearer ${await adminToken()}`;
  const json = { "content-type": "application/json" };

  const create = async (userId: string) => {
    const response = await fetch(`${url}/sessions/user/${userId}`, {
      method: "POST",
      headers: { authorization: admin, ...json },
      body: "{}",
    });
    if (response.status !== 201)
      throw new Error(`create answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as { id: string; access_token: string };
  };
  const reader = await create("load-reader");
  for (let i = 0; i < 4; i++) await create("load-reader");

  bench.log(`load: GET /api/sessions, ${connections} connections for ${duration} s`);
  const reads = await autocannon({
    url: `${url}/api/sessions`,
    connections,
    duration,
    headers: { authorization: `Bearer ${reader.access_token}` },
  });

  bench.log(`load: create/create/delete mix, ${connections} connections for ${duration} s`);
  const created = new Set<string>();
  const deleted = new Set<string>();
  // Deletes sent when the run stopped may have been applied without their answer being read.
  const unanswered = new Set<string>();
  let next = 0;
  const createRequest = (slot: "a" | "b"): AutocannonRequest => ({
    method: "POST",
    headers: { authorization: admin, ...json },
    body: "{}",
    setupRequest: (request) => ({ ...request, path: `/sessions/user/load-u${next++ % USERS}` }),
    onResponse: (status, body, context) => {
      if (status !== 201) return;
      const session = JSON.parse(body) as { id: string; access_token: string };
      created.add(session.id);
      context[slot] = session;
    },
  });
  const mix = await autocannon({
    url,
    connections,
    duration,
    requests: [
      createRequest("a"),
      createRequest("b"),
      {
        method: "DELETE",
        // The user logs out of the first session with that session's own access token.
        setupRequest: (request, context) => {
          const a = context.a as { id: string; access_token: string } | undefined;
          if (!a) return undefined;
          unanswered.add(a.id);
          return {
            ...request,
            path: `/api/sessions/${a.id}`,
            headers: { ...request.headers, authorization: `Bearer ${a.access_token}` },
          };
        },
        onResponse: (status, _body, context) => {
          const id = (context.a as { id: string }).id;
          unanswered.delete(id);
          if (status === 200) deleted.add(id);
        },
      },
    ],
  });

  bench.log(`load: reading back ${created.size} created sessions (${deleted.size} deleted)`);
  let readable = 0;
  let gone = 0;
  const wrong: string[] = [];
  let inFlight = 0;
  await pool([...created], 16, async (id) => {
    const response = await fetch(`${url}/sessions/${id}`, { headers: { authorization: admin } });
    await response.arrayBuffer();
    if (unanswered.has(id) && (response.status === 200 || response.status === 404)) {
      inFlight++;
      return;
    }
    const expected = deleted.has(id) ? 404 : 200;
    if (response.status !== expected) wrong.push(`${id}: ${response.status}`);
    else if (expected === 200) readable++;
    else gone++;
  });

  const figures = [figure("GET /api/sessions", reads), figure("create/create/delete mix", mix)];
  const verification = {
    created: created.size,
    deleted: deleted.size,
    readable,
    expectedReadable: created.size - deleted.size - inFlight,
    deleteInFlightAtStop: inFlight,
    deletedAnswering404: gone,
    mismatches: wrong.slice(0, 20),
  };
  return {
    report: {
      title: `7. HTTP load on the local runner (autocannon, ${connections} connections, ${duration} s each)`,
      table: {
        headers: [
          "run",
          "requests/s",
          "requests",
          "p50 ms",
          "p99 ms",
          "errors",
          "timeouts",
          "non-2xx",
          "errors = 0",
        ],
        rows: figures.map((f) => [
          f.name,
          f.requestsPerSecond.toFixed(0),
          f.total,
          ms(f.p50),
          ms(f.p99),
          f.errors,
          f.timeouts,
          f.non2xx,
          verdict(f.errors + f.timeouts + f.non2xx === 0),
        ]),
      },
      notes: [
        "GET /api/sessions: a user with 5 sessions, sid-bound access token (sid GetItem + byUser Query per request)",
        "mix, per connection and cycle: POST /sessions/user/{id} twice (admin), then DELETE /api/sessions/{id} of the first with its own access token",
        `after the mix: ${verification.readable}/${verification.expectedReadable} surviving sessions readable with GET /sessions/{id}, ${verification.deletedAnswering404}/${verification.deleted} deleted ones answer 404; ${wrong.length} mismatches${inFlight ? ` (${inFlight} sessions whose delete was in flight when the run stopped are not counted)` : ""}`,
        "autocannon, the runner and DynamoDB Local share the same machine",
      ],
    },
    data: { runs: figures, verification },
  };
}
