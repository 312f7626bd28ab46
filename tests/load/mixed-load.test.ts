import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import autocannon from "autocannon";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DynamoDbLocal,
  ensureTable,
  localClient,
  startDynamoDbLocal,
} from "../../lib/dynamodb-local.ts";
import { call, pool, type Runner, startRunner } from "../hardening/local-stack.ts";

// Many users creating, listing, deactivating and deleting sessions at once through autocannon. Every
// answer must be a 2xx, and afterwards each acknowledged session must be in exactly the state its
// last acknowledged operation left it: active, deactivated or gone.

const TABLE = "sessions-load";
const SECRET = "load-test-secret-load-test-secret-0123456789";
const USERS = Array.from({ length: 200 }, (_, i) => `load-user-${i}`);
const DURATION_SECONDS = 15;
const CONNECTIONS = 16;

type State = "active" | "deactivated" | "deleted";
type Request = NonNullable<Parameters<typeof autocannon>[0]["requests"]>[number];

let dynamo: DynamoDbLocal | undefined;
let runner: Runner | undefined;

const sign = (claims: Record<string, unknown>) => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(new TextEncoder().encode(SECRET));
};

beforeAll(async () => {
  dynamo = await startDynamoDbLocal({ dataDir: null });
  const client = localClient(dynamo.endpoint);
  await ensureTable(client, TABLE);
  client.destroy();
  runner = await startRunner({ DYNAMODB_ENDPOINT: dynamo.endpoint, TABLE_NAME: TABLE, JWT_SECRET: SECRET });
});

afterAll(async () => {
  await runner?.stop();
  await dynamo?.stop();
});

describe("mixed load", () => {
  it("serves create, list, deactivate and delete for many users with zero errors and loses no state", async () => {
    const url = (runner as Runner).url;
    const admin = `Bearer ${await sign({ sub: "load-admin", scope: "sessions:admin" })}`;
    const userTokens = new Map<string, string>();
    for (const user of USERS) userTokens.set(user, `Bearer ${await sign({ sub: user })}`);
    // `pending`: an operation sent but not answered when the run stopped may or may not have happened.
    const model = new Map<
      string,
      { user: string; state: State; pending?: State | undefined; log: string[] }
    >();
    const send = (id: string, state: State) => {
      const session = model.get(id);
      if (session) {
        session.pending = state;
        session.log.push(`send ${state}`);
      }
    };
    const acknowledge = (id: string | undefined, state: State | undefined) => {
      const session = id === undefined ? undefined : model.get(id);
      if (!session) return;
      session.pending = undefined;
      session.log.push(`ack ${state}`);
      if (state && session.state !== "deleted") session.state = state;
    };
    let duplicates = 0;
    const idle = (request: Request) => ({
      ...request,
      method: "GET",
      path: "/health",
      headers: {},
    });
    const own = (context: Record<string, any>) => ({ authorization: userTokens.get(context.user) as string });

    const result = await autocannon({
      url,
      connections: CONNECTIONS,
      duration: DURATION_SECONDS,
      timeout: 10,
      requests: [
        {
          method: "POST",
          setupRequest: (request, context) => {
            context.user = USERS[Math.floor(Math.random() * USERS.length)];
            return { ...request, path: `/sessions/user/${context.user}`, headers: { authorization: admin } };
          },
          onResponse: (status, body, context) => {
            if (status !== 201) return;
            context.id = JSON.parse(body).id;
            // Two creates answered with one id would be a lost session.
            if (model.has(context.id)) duplicates++;
            else model.set(context.id, { user: context.user, state: "active", log: [] });
          },
        },
        {
          method: "GET",
          setupRequest: (request, context) => ({ ...request, path: "/api/sessions", headers: own(context) }),
        },
        {
          setupRequest: (request, context) => {
            if (!context.id) return idle(request);
            const roll = Math.random();
            context.first = roll < 0.4 ? "deactivate" : roll < 0.7 ? "delete" : "keep";
            if (context.first !== "keep")
              send(context.id, context.first === "delete" ? "deleted" : "deactivated");
            if (context.first === "deactivate")
              return {
                ...request,
                method: "PATCH",
                path: `/api/sessions/${context.id}/deactivate`,
                headers: own(context),
              };
            if (context.first === "delete")
              return {
                ...request,
                method: "DELETE",
                path: `/api/sessions/${context.id}`,
                headers: own(context),
              };
            return {
              ...request,
              method: "GET",
              path: `/sessions/${context.id}`,
              headers: { authorization: admin },
            };
          },
          onResponse: (status, _body, context) => {
            if (context.first === "keep") return;
            const ok = status === 200;
            acknowledge(
              context.id,
              ok ? (context.first === "delete" ? "deleted" : "deactivated") : undefined,
            );
          },
        },
        {
          setupRequest: (request, context) => {
            if (!context.id || context.first === "delete") return idle(request);
            const roll = Math.random();
            if (roll < 0.3) {
              return {
                ...request,
                method: "GET",
                path: `/sessions/user/${context.user}/last`,
                headers: { authorization: admin },
              };
            }
            context.second = roll < 0.65 ? "delete" : "deactivate";
            send(context.id, context.second === "delete" ? "deleted" : "deactivated");
            return context.second === "delete"
              ? {
                  ...request,
                  method: "DELETE",
                  path: `/sessions/${context.id}`,
                  headers: { authorization: admin },
                }
              : {
                  ...request,
                  method: "PATCH",
                  path: `/api/sessions/${context.id}/deactivate`,
                  headers: own(context),
                };
          },
          onResponse: (status, _body, context) => {
            if (!context.second) return;
            acknowledge(
              context.id,
              status === 200 ? (context.second === "delete" ? "deleted" : "deactivated") : undefined,
            );
          },
        },
      ],
    });

    expect(result.errors).toBe(0);
    expect(result.timeouts).toBe(0);
    expect(result.non2xx, JSON.stringify(result.statusCodeStats)).toBe(0);
    expect(model.size).toBeGreaterThan(100);
    expect(duplicates).toBe(0);
    const states = [...model.values()].map((s) => s.state);
    for (const state of ["active", "deactivated", "deleted"] as const) expect(states).toContain(state);

    // Every acknowledged session, read strongly consistently from the table.
    const db = DynamoDBDocumentClient.from(localClient((dynamo as DynamoDbLocal).endpoint));
    const wrong: string[] = [];
    const stored = new Map<string, State>();
    await pool([...model], 16, async ([id, expected]) => {
      const { Item } = await db.send(new GetCommand({ TableName: TABLE, Key: { id }, ConsistentRead: true }));
      const actual: State = !Item ? "deleted" : Item.isActive ? "active" : "deactivated";
      stored.set(id, actual);
      const allowed = expected.pending === undefined ? [expected.state] : [expected.state, expected.pending];
      if (!allowed.includes(actual) || (Item && Item.userId !== expected.user))
        wrong.push(`${id}: ${allowed.join(" or ")} != ${actual} (${expected.log.join(", ")})`);
    });
    db.destroy();
    expect(wrong).toEqual([]);
    const unanswered = [...model.values()].filter((s) => s.pending !== undefined);
    expect(unanswered.length).toBeLessThanOrEqual(CONNECTIONS);
    // Settle the few operations cut off by the end of the run on what the table holds.
    for (const [id, session] of model)
      if (session.pending !== undefined) session.state = stored.get(id) as State;

    // And as each user sees them: exactly the sessions left active, plus any whose create was still
    // unanswered when the run stopped (never acknowledged, so not in the model).
    let unacknowledged = 0;
    await pool(USERS, 16, async (user) => {
      const listed = await call(url, "/api/sessions", { authorization: userTokens.get(user) as string });
      expect(listed.status).toBe(200);
      const ids: string[] = listed.body.data.map((s: { id: string }) => s.id);
      const active = [...model].filter(([, s]) => s.user === user && s.state === "active").map(([id]) => id);
      expect(ids.filter((id) => model.has(id)).sort()).toEqual(active.sort());
      unacknowledged += ids.filter((id) => !model.has(id)).length;
    });
    expect(unacknowledged).toBeLessThanOrEqual(CONNECTIONS);
    console.info(
      `load: ${result.requests.total} requests (${result.requests.average}/s, p99 ${result.latency.p99} ms), ${model.size} sessions: ${["active", "deactivated", "deleted"].map((s) => `${states.filter((x) => x === s).length} ${s}`).join(", ")}`,
    );
  });
});
