import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DynamoDbLocal,
  ensureTable,
  freePort,
  localClient,
  startDynamoDbLocal,
} from "../../lib/dynamodb-local.ts";
import { functionDefaults } from "../../lib/routes.ts";
import { sessionTable } from "../../lib/table.ts";
import { signToken } from "../support/api.ts";
import { call, type Runner, sleep, startRunner } from "./local-stack.ts";

// DynamoDB Local killed (SIGKILL) under a steady stream of requests, then started again on the same
// data and port. The API process is never restarted.

const TABLE = "sessions-outage";
const SECRET = "outage-secret-outage-secret-outage-secret-01";
const USERS = ["outage-a", "outage-b", "outage-c"].map(
  (u) => `${u}-${process.pid}-${Date.now().toString(36)}`,
);

let dataDir: string;
let port: number;
let dynamo: DynamoDbLocal | undefined;
let runner: Runner | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "sessions-outage-"));
  port = await freePort();
  dynamo = await startDynamoDbLocal({ dataDir, port });
  const client = localClient(dynamo.endpoint);
  await ensureTable(client, TABLE);
  client.destroy();
  runner = await startRunner({ DYNAMODB_ENDPOINT: dynamo.endpoint, TABLE_NAME: TABLE, JWT_SECRET: SECRET });
}, 300_000);

afterAll(async () => {
  await runner?.stop();
  await dynamo?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Outcome {
  phase: "before" | "outage" | "recovering";
  kind: "create" | "read" | "list";
  status: number;
  ms: number;
  at: number;
  retryAfter: string | null;
  body: any;
}

describe("DynamoDB outage", () => {
  it("answers 503 within the budget while the store is down and loses no acknowledged session", async () => {
    const api = runner as Runner;
    const admin = await signToken({ sub: "outage-admin", scope: "sessions:admin" }, { secret: SECRET });
    const userTokens = await Promise.all(USERS.map((sub) => signToken({ sub }, { secret: SECRET })));
    const acknowledged: { id: string; user: string }[] = [];
    const outcomes: Outcome[] = [];
    let phase: Outcome["phase"] = "before";
    let running = true;

    const worker = async (w: number) => {
      for (let n = 0; running; n++) {
        const user = USERS[(w + n) % USERS.length] as string;
        const known = acknowledged.at(-1 - (n % 5));
        let kind = (["create", "read", "list"] as const)[n % 3] as Outcome["kind"];
        if (kind === "read" && !known) kind = "list";
        const at = Date.now();
        const startedIn = phase;
        const r =
          kind === "create"
            ? await call(api.url, `/sessions/user/${user}`, { method: "POST", token: admin })
            : kind === "read" && known
              ? await call(api.url, `/sessions/${known.id}`, { token: admin })
              : await call(api.url, "/api/sessions", { token: userTokens[USERS.indexOf(user)] as string });
        if (kind === "create" && r.status === 201) acknowledged.push({ id: r.body.id, user });
        outcomes.push({
          phase: startedIn,
          kind,
          status: r.status,
          ms: r.ms,
          at,
          retryAfter: r.headers.get("retry-after"),
          body: r.body,
        });
        await sleep(15);
      }
    };
    // Each phase lasts a while and until enough requests have answered in it: on a busy machine a
    // fixed sleep may see none.
    const until = async (minMs: number, enough: () => boolean) => {
      const started = Date.now();
      const deadline = started + 60_000;
      while ((Date.now() - started < minMs || !enough()) && Date.now() < deadline) await sleep(100);
    };
    const workers = [0, 1, 2, 3].map(worker);
    await until(2_000, () => outcomes.filter((o) => o.phase === "before").length > 20);

    phase = "outage";
    const killedAt = Date.now();
    dynamo?.process.kill("SIGKILL");
    await new Promise((resolve) => dynamo?.process.once("exit", resolve));
    await until(4_000, () => outcomes.filter((o) => o.at >= killedAt + 100).length > 5);

    phase = "recovering";
    const restartAt = Date.now();
    dynamo = await startDynamoDbLocal({ dataDir, port });
    const restoredAt = Date.now();
    await until(4_000, () => outcomes.filter((o) => o.at >= restoredAt + 1_500).length > 20);
    running = false;
    await Promise.all(workers);

    const budgetMs = functionDefaults.timeoutSeconds * 1000;
    // Every answer is a success or a 503 in the family's shape, never a 500.
    for (const o of outcomes) {
      expect([200, 201, 503], JSON.stringify(o)).toContain(o.status);
      if (o.status === 503) {
        expect(o.retryAfter).toMatch(/^\d+$/);
        expect(o.ms).toBeLessThan(budgetMs);
        if (o.kind === "list")
          expect(o.body).toMatchObject({ success: false, error: { code: "SERVICE_UNAVAILABLE" } });
        else expect(o.body).toMatchObject({ detail: expect.any(String) });
      }
    }
    const before = outcomes.filter((o) => o.at + o.ms < killedAt);
    expect(before.length).toBeGreaterThan(20);
    expect(before.filter((o) => o.status === 503).map((o) => o.kind)).toEqual([]);
    const down = outcomes.filter((o) => o.at >= killedAt + 100 && o.at < restartAt);
    expect(down.length).toBeGreaterThan(5);
    expect(
      down.filter((o) => o.status !== 503).map((o) => `${o.kind} ${o.status} ${o.at - killedAt}ms`),
    ).toEqual([]);
    // Once DynamoDB Local answers again, the same API process serves every request.
    const recovered = outcomes.filter((o) => o.at >= restoredAt + 1_500);
    expect(recovered.length).toBeGreaterThan(20);
    expect(recovered.map((o) => o.status).filter((s) => s >= 500)).toEqual([]);
    expect(acknowledged.some((a) => outcomes.find((o) => o.body?.id === a.id && o.at >= restoredAt))).toBe(
      true,
    );

    // Count: every acknowledged session, before or after the outage, is on disk and readable.
    const db = DynamoDBDocumentClient.from(localClient((dynamo as DynamoDbLocal).endpoint));
    let stored = 0;
    for (const user of USERS) {
      const { Items = [] } = await db.send(
        new QueryCommand({
          TableName: TABLE,
          IndexName: sessionTable.indexes.byUser.name,
          KeyConditionExpression: "#u = :u",
          ExpressionAttributeNames: { "#u": "userId" },
          ExpressionAttributeValues: { ":u": user },
        }),
      );
      const ids = new Set(Items.map((item) => item.id as string));
      const mine = acknowledged.filter((a) => a.user === user);
      for (const a of mine) expect(ids.has(a.id), `acknowledged session ${a.id} is lost`).toBe(true);
      stored += ids.size;
    }
    expect(acknowledged.length).toBeGreaterThan(20);
    // A create cut off by the kill may have been written without being acknowledged, never the reverse.
    expect(stored).toBeGreaterThanOrEqual(acknowledged.length);
    for (const a of acknowledged) {
      const { Item } = await db.send(
        new GetCommand({ TableName: TABLE, Key: { id: a.id }, ConsistentRead: true }),
      );
      expect(Item?.userId).toBe(a.user);
    }
    const sample = acknowledged.filter((_, i) => i % 5 === 0);
    for (const a of sample) {
      expect((await call(api.url, `/sessions/${a.id}`, { token: admin })).status).toBe(200);
    }
    db.destroy();
    const unavailable = outcomes.filter((o) => o.status === 503);
    console.info(
      `outage: ${outcomes.length} requests, ${unavailable.length} answered 503 (slowest ${Math.round(Math.max(...unavailable.map((o) => o.ms)))} ms), ${acknowledged.length} sessions acknowledged, ${stored} stored`,
    );
  }, 300_000);

  it("answers 503 within the function timeout while the store is frozen, then recovers", async () => {
    const api = runner as Runner;
    const store = dynamo as DynamoDbLocal;
    const admin = await signToken({ sub: "outage-admin", scope: "sessions:admin" }, { secret: SECRET });
    const user = `${USERS[0]}-frozen`;
    const acknowledged: string[] = [];
    const frozen: { status: number; ms: number; retryAfter: string | null }[] = [];
    const create = () => call(api.url, `/sessions/user/${user}`, { method: "POST", token: admin });
    for (let i = 0; i < 5; i++) acknowledged.push((await create()).body.id);

    // SIGSTOP: connections are accepted by the kernel but never answered, so only timeouts end them.
    store.process.kill("SIGSTOP");
    try {
      await Promise.all(
        [0, 1, 2, 3].map(async () => {
          const r = await create();
          frozen.push({ status: r.status, ms: r.ms, retryAfter: r.headers.get("retry-after") });
          if (r.status === 201) acknowledged.push(r.body.id);
        }),
      );
    } finally {
      store.process.kill("SIGCONT");
    }
    const budgetMs = functionDefaults.timeoutSeconds * 1000;
    for (const r of frozen) {
      expect(r.status).toBe(503);
      expect(r.retryAfter).toMatch(/^\d+$/);
      expect(r.ms).toBeLessThan(budgetMs);
    }

    let recovered = await create();
    for (let i = 0; recovered.status !== 201 && i < 20; i++) recovered = await create();
    expect(recovered.status).toBe(201);
    acknowledged.push(recovered.body.id);
    for (const id of acknowledged) {
      expect((await call(api.url, `/sessions/${id}`, { token: admin })).status).toBe(200);
    }
    console.info(
      `frozen store: ${frozen.length} requests answered 503 in ${frozen.map((r) => Math.round(r.ms)).join(", ")} ms (budget ${budgetMs} ms)`,
    );
  }, 60_000);
});
