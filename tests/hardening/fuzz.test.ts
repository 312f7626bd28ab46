import { Agent, request } from "node:http";
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { localClient } from "../../lib/dynamodb-local.ts";
import { routes } from "../../lib/routes.ts";
import { signToken } from "../support/api.ts";
import { expectMatchesSpec } from "../support/openapi.ts";
import { digest, plantExpired } from "../support/sessions.ts";
import { pool, type Runner, startRunner } from "./local-stack.ts";

// Property: whatever arrives (method, path, ids, query, headers, content type, body), the service
// answers below 500, in the shape openapi.yaml documents, without a stack trace or an internal message,
// and a rejected request leaves the table exactly as it was. The runner gets a table of its own so the
// whole table can be compared before and after every batch.
//
// Opaque tokens are reused: creates register tokens the run has seen before, and every batch may plant
// expired (not yet swept) sessions holding a registered token, which another user may then register
// anew. After every batch the table must also hold together: a live session's token item names it,
// and no live token item names a session that is gone. One user's "delete all" may never take the
// token of another user's live session.

const BATCHES = Number(process.env.FUZZ_BATCHES ?? 200);
const BATCH_SIZE = 50;
const CONCURRENCY = 10;
const TABLE = `sessions-fuzz-${process.pid}`;
const USERS = ["fuzz-a", "fuzz-b", "fuzz-c"];

interface PoolSession {
  id: string;
  user: string;
  accessToken: string;
}

let runner: Runner;
let db: DynamoDBDocumentClient;
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const sessions: PoolSession[] = [];
/** Every opaque token of the run (registered by a create, or planted), with every user it was registered for. */
const tokenOwners = new Map<string, Set<string>>();
/** Every session each opaque token was registered to. */
const tokenSessions = new Map<string, Set<string>>();
const knownTokens: string[] = [];
/** Tokens of planted expired sessions: free to be registered again, by anyone. */
const plantedTokens: string[] = [];
/** How often the run reached the states the token checks are about, for the summary line. */
const reached = { plantedTokenRegisteredAgain: 0, deleteAll: 0 };

function registerToken(token: string, user: string, sessionId: string) {
  if (!tokenOwners.has(token)) knownTokens.push(token);
  tokenSessions.set(token, (tokenSessions.get(token) ?? new Set<string>()).add(sessionId));
  const owners = tokenOwners.get(token) ?? new Set<string>();
  owners.add(user);
  tokenOwners.set(token, owners);
}

/**
 * A token the run knows: even `n` one of the last few planted (its session expired, and its owner may
 * not have deleted everything since), odd any known one.
 */
function knownToken(n: number): string {
  const half = Math.floor(n / 2);
  if (n % 2 === 0 && plantedTokens.length > 0) {
    return plantedTokens.at(-1 - (half % Math.min(3, plantedTokens.length))) as string;
  }
  return knownTokens[half % knownTokens.length] as string;
}
const tokens: { admin: string; users: string[]; expired: string; stranger: string } = {} as never;

beforeAll(async () => {
  runner = await startRunner({
    DYNAMODB_ENDPOINT: inject("dynamoEndpoint"),
    TABLE_NAME: TABLE,
    JWT_SECRET: inject("jwtSecret"),
  });
  db = DynamoDBDocumentClient.from(localClient(inject("dynamoEndpoint")));
  tokens.admin = await signToken({ sub: "fuzz-admin", scope: "sessions:admin" });
  tokens.users = await Promise.all(USERS.map((sub) => signToken({ sub })));
  tokens.expired = await signToken({ sub: "fuzz-a" }, { expiresIn: -3600 });
  tokens.stranger = await signToken({ sub: "fuzz-stranger" });
  for (const [i, user] of USERS.entries()) {
    for (let n = 0; n < 3; n++) {
      const opaque = n === 0 ? `fuzz-seed-${i}-${crypto.randomUUID()}` : undefined;
      const r = await send({
        method: "POST",
        path: `/sessions/user/${user}`,
        headers: { authorization: `Bearer ${tokens.admin}`, "content-type": "application/json" },
        body: JSON.stringify(opaque ? { token: opaque } : {}),
      });
      expect(r.status, r.text).toBe(201);
      sessions.push({ id: r.body.id, user, accessToken: r.body.access_token });
      if (opaque) registerToken(opaque, user, r.body.id);
    }
  }
}, 180_000);

afterAll(async () => {
  await runner?.stop();
  agent.destroy();
  db?.destroy();
});

// --- requests -----------------------------------------------------------------------------------

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}
interface Received {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

function send(req: Sent): Promise<Received> {
  return new Promise((resolve, reject) => {
    const url = new URL(runner.url);
    // Node frames a body only for methods it expects one on: give every body its length.
    const headers =
      req.body === undefined
        ? req.headers
        : { ...req.headers, "content-length": String(Buffer.byteLength(req.body)) };
    const outgoing = request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers,
        agent,
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, String(v));
          let body: unknown;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {}
          resolve({ status: res.statusCode ?? 0, headers, body, text });
        });
        res.on("error", reject);
      },
    );
    outgoing.on("error", reject);
    outgoing.on("timeout", () => outgoing.destroy(new Error("request timed out")));
    outgoing.end(req.body);
  });
}

/** A generated request: references to the session pool are resolved when it is sent. */
type Ref = { pool: number } | { raw: string };
interface Generated {
  method: string;
  /** Below 7 (of 10), a route template is requested with its own method. */
  ownMethod: number;
  route: { template: string; id: Ref; user: Ref } | { raw: string };
  query: string;
  auth: {
    kind: "none" | "garbage" | "user" | "sid" | "opaque" | "admin" | "expired" | "stranger";
    n: number;
    raw: string;
  };
  contentType: string | null;
  extraHeaders: [string, string][];
  body: string | null;
}

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 60,
});
const unicode = fc.string({ unit: "binary", maxLength: 40 });
const pollution = fc.constantFrom(
  "__proto__",
  "constructor",
  "prototype",
  "hasOwnProperty",
  "toString",
  "valueOf",
);
const rawId = fc.oneof(
  fc.base64String({ minLength: 1, maxLength: 40 }).map((s) => s.replace(/[+/=]/g, "_")),
  unicode,
  pollution,
  fc.string({ minLength: 120, maxLength: 300 }),
  fc.constantFrom(
    "",
    "..",
    ".",
    "%00",
    "%2F",
    "a%2Fb",
    "%",
    "%E0%A4%A",
    "token#abc",
    "-",
    "0",
    "null",
    "undefined",
    " ",
  ),
  fc.integer().map(String),
);
const ref: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 3, arbitrary: fc.nat().map((n) => ({ pool: n })) },
  { weight: 2, arbitrary: rawId.map((raw) => ({ raw })) },
  // The caller's current session on the user routes (section 8); on admin routes an id like another.
  { weight: 1, arbitrary: fc.constant({ raw: "current" }) },
);
const userRef: fc.Arbitrary<Ref> = fc.oneof(
  fc.constantFrom(...USERS, "fuzz-stranger").map((raw) => ({ raw })),
  fc.nat().map((n) => ({ pool: n })),
  rawId.map((raw) => ({ raw })),
);
const templates = routes.filter((r) => r.path !== "$default").map((r) => r.path);
const path = fc.oneof(
  { weight: 6, arbitrary: fc.record({ template: fc.constantFrom(...templates), id: ref, user: userRef }) },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.oneof(
          fc.constantFrom(
            "api",
            "sessions",
            "user",
            "last",
            "deactivate",
            "current",
            "introspect",
            "health",
            "",
            "..",
          ),
          rawId,
        ),
        {
          minLength: 1,
          maxLength: 6,
        },
      )
      .map((parts) => ({ raw: `/${parts.map(encodeURIComponent).join("/")}` })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(
        "/sessions/",
        "/api/sessions/",
        "//sessions",
        "//api/sessions",
        "/API/sessions",
        "/Sessions",
        "/sessions/user/",
        "/sessions/user//last",
        "/api/sessions/../../sessions",
        "/api/sessions/%2e%2e/x/deactivate",
        "/health/",
        "/",
        "*",
      )
      .map((raw) => ({ raw })),
  },
);
const queryValue = fc.oneof(
  fc.integer({ min: -5, max: 2000 }).map(String),
  fc.constantFrom(
    "1e3",
    "0x10",
    "10.5",
    "",
    "NaN",
    "Infinity",
    "-0",
    "99999999999999999999",
    "1,2",
    "others",
    "all",
  ),
  unicode,
  printable,
);
const query = fc.oneof(
  { weight: 3, arbitrary: fc.constant("") },
  {
    weight: 4,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom("limit", "offset", "cursor", "user_id", "scope", "__proto__", "limit[]"),
            printable,
          ),
          queryValue,
        ),
        { maxLength: 4 },
      )
      .map((pairs) =>
        pairs.length
          ? `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")}`
          : "",
      ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom("?", "?&&", "?limit", "?=", "?limit=1&limit=2", "?%zz=1", "?cursor=a.b.c"),
  },
);
const auth = fc.record({
  kind: fc.constantFrom(
    "none",
    "garbage",
    "user",
    "user",
    "sid",
    "opaque",
    "admin",
    "admin",
    "expired",
    "stranger",
  ),
  n: fc.nat(),
  raw: fc.oneof(
    printable,
    fc.constantFrom(
      "Bearer",
      "Bearer ",
      "bearer  x",
      "Basic Zm9vOmJhcg==",
      "Bearer a.b.c",
      "Bearer eyJ.eyJ.",
    ),
  ),
});
const contentType = fc.oneof(
  fc.constant("application/json"),
  fc.constant(null),
  fc.constantFrom(
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=utf-16",
    "application/JSON",
    "application/vnd.api+json",
    "application/xml",
    "*/*",
  ),
  printable,
);
/** Stands for a token the run already knows; resolved when the request is sent (see knownToken). */
const reuse = fc.nat().map((n) => `__reuse_${n}__`);
const isoFuture = fc
  .integer({ min: 1, max: 40 * 86_400 })
  .map((s) => new Date(Date.now() + s * 1000).toISOString());
const createBody = fc.record(
  {
    user_id: fc.oneof(
      fc.constantFrom(...USERS),
      unicode,
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.string({ minLength: 250, maxLength: 270 }),
      fc.array(fc.nat()),
    ),
    userId: fc.oneof(fc.constantFrom(...USERS), fc.integer(), fc.string({ maxLength: 5 })),
    expires_at: fc.oneof(
      isoFuture,
      fc.constantFrom("2020-01-01T00:00:00Z", "tomorrow", "2999-01-01T00:00:00Z", "2024-02-30T00:00:00Z"),
      fc.integer(),
      unicode,
    ),
    expiresAt: isoFuture,
    token: fc.oneof(
      { weight: 3, arbitrary: reuse },
      fc.stringMatching(/^[A-Za-z0-9._~+/-]{16,64}$/),
      fc.string({ maxLength: 20 }),
      fc.string({ minLength: 4090, maxLength: 4100 }).map((s) => s.replace(/[^A-Za-z0-9]/g, "a")),
      unicode,
    ),
    ip_address: fc.oneof(fc.ipV4(), fc.ipV6(), printable),
    user_agent: fc.oneof(printable, fc.string({ minLength: 500, maxLength: 600 })),
    user: fc.oneof(
      fc.dictionary(fc.oneof(printable, pollution), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
      fc.array(fc.nat(), { maxLength: 3 }),
      fc.string({ maxLength: 10 }),
      fc.string({ minLength: 1100, maxLength: 1200 }).map((s) => ({ big: s })),
    ),
  },
  { requiredKeys: [] },
);
const deep = (depth: number, open: string, close: string, leaf = "1") =>
  `${open.repeat(depth)}${leaf}${close.repeat(depth)}`;
const body = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  // A create that registers a known token again, for one of the users that also delete.
  {
    weight: 2,
    arbitrary: fc.record({ user_id: fc.constantFrom(...USERS), token: reuse }).map((b) => JSON.stringify(b)),
  },
  { weight: 4, arbitrary: createBody.map((b) => JSON.stringify(b)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.integer({ min: 100, max: 8000 }).map((d) => deep(d, "[", "]")),
      fc.integer({ min: 100, max: 3000 }).map((d) => `{"user_id":"fuzz-a","user":${deep(d, '{"a":', "}")}}`),
      fc
        .integer({ min: 100, max: 3000 })
        .map((d) => `{"user_id":"fuzz-a","user":{"x":${deep(d, "[", "]")}}}`),
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(16 * 1024, 16 * 1024 + 1, 20_000, 100_000, 400_000)
      .map((size) => `{"user_id":"fuzz-a","user_agent":"${"x".repeat(size)}"}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"__proto__":{"isActive":false,"userId":"fuzz-b"},"user_id":"fuzz-a"}',
      '{"constructor":{"prototype":{"polluted":true}},"user_id":"fuzz-a"}',
      '{"user_id":"fuzz-a","user":{"__proto__":{"admin":true}}}',
      '{"user_id":"fuzz-a","user_id":"fuzz-b"}',
      '{"user_id":"fuzz-a"',
      "{'user_id':'fuzz-a'}",
      "user_id=fuzz-a",
      // Introspection bodies (form and JSON), and their near misses.
      "token=",
      "token=abc&token=def",
      "token=%ZZ",
      '{"token":null}',
      '{"token":["a"]}',
      "null",
      "[]",
      '"fuzz-a"',
      "\u0000\u0001",
      "\ufeff{}",
    ),
  },
  { weight: 1, arbitrary: unicode },
);
// Framing and credential headers are the client's to set; anything else may be fuzzed.
const reserved = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "expect",
  "upgrade",
  "te",
  "trailer",
  "keep-alive",
  "authorization",
  "content-type",
]);
const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).filter((name) => !reserved.has(name));
const anyRequest: fc.Arbitrary<Generated> = fc.record({
  ownMethod: fc.nat(9),
  method: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom("GET", "POST", "PATCH", "DELETE") },
    { weight: 1, arbitrary: fc.constantFrom("PUT", "OPTIONS", "HEAD", "TRACE") },
  ),
  route: path,
  query,
  auth,
  contentType,
  extraHeaders: fc.array(
    fc.tuple(
      fc.oneof(
        headerName,
        fc.constantFrom("x-request-id", "x-forwarded-for", "accept", "content-length-x", "cookie"),
      ),
      printable,
    ),
    { maxLength: 3 },
  ),
  body,
});
/**
 * A well-formed admin create that registers a token the run knows for one of the users that also
 * delete: with the expired sessions planted before each batch, it makes a token change hands between
 * users often enough for the checks after the batch to see what follows.
 */
const registration: fc.Arbitrary<Generated> = fc
  .record({ user_id: fc.constantFrom(...USERS), token: reuse, n: fc.nat() })
  .map(({ n, ...created }) => ({
    ownMethod: 0,
    method: "POST",
    route: { raw: "/sessions" },
    query: "",
    auth: { kind: "admin", n, raw: "" },
    contentType: "application/json",
    extraHeaders: [],
    body: JSON.stringify(created),
  }));
const generated = fc.oneof({ weight: 30, arbitrary: anyRequest }, { weight: 1, arbitrary: registration });

function resolve(ref: Ref, field: "id" | "user"): string {
  if ("raw" in ref) return ref.raw;
  const session = sessions[ref.pool % sessions.length] as PoolSession;
  return field === "id" ? session.id : session.user;
}

/**
 * The concrete request, the users its credential may stand for (when it is a valid one): an opaque
 * token stands for any user it was ever registered for, as it may be registered anew in the batch;
 * and the sessions the path id `current` may name for it.
 */
function materialize(g: Generated): { sent: Sent; actors: string[]; current: string[] } {
  let path: string;
  if ("raw" in g.route) path = g.route.raw;
  else {
    const { template, id, user } = g.route;
    const own = routes.find((r) => r.path === template)?.method;
    if (own && own !== "ANY" && g.ownMethod < 7) g = { ...g, method: own };
    path = template
      .replace("{id}", encodeURIComponent(resolve(id, "id")))
      // Line terminators in a user id are left to the dedicated test below (openapi.yaml's pattern).
      .replace("{user_id}", encodeURIComponent(resolve(user, "user")));
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of g.extraHeaders) headers[k] = v;
  let actors: string[] = [];
  // The sessions behind a session's own credential: what the path id `current` names.
  let current: string[] = [];
  const session = sessions[g.auth.n % sessions.length] as PoolSession;
  switch (g.auth.kind) {
    case "garbage":
      headers.authorization = g.auth.raw;
      break;
    case "user":
      headers.authorization = `Bearer ${tokens.users[g.auth.n % USERS.length]}`;
      actors = [USERS[g.auth.n % USERS.length] as string];
      break;
    case "sid":
      headers.authorization = `Bearer ${session.accessToken}`;
      actors = [session.user];
      current = [session.id];
      break;
    case "opaque": {
      const opaque = knownToken(g.auth.n);
      headers.authorization = `Bearer ${opaque}`;
      actors = [...(tokenOwners.get(opaque) ?? [])];
      current = [...(tokenSessions.get(opaque) ?? [])];
      break;
    }
    case "admin":
      headers.authorization = `Bearer ${tokens.admin}`;
      break;
    case "expired":
      headers.authorization = `Bearer ${tokens.expired}`;
      break;
    case "stranger":
      headers.authorization = `Bearer ${tokens.stranger}`;
      actors = ["fuzz-stranger"];
      break;
  }
  if (g.contentType !== null) headers["content-type"] = g.contentType;
  const body = g.body?.replace(/__reuse_(\d+)__/g, (_, n: string) => knownToken(Number(n)));
  return {
    sent: { method: g.method, path: `${path}${g.query}`, headers, ...(body !== undefined && { body }) },
    actors,
    current,
  };
}

// --- checks -------------------------------------------------------------------------------------

const LEAKS = [
  /\bat [\w$.<>]+ \(/,
  /node_modules/,
  /\.ts:\d+/,
  /\.js:\d+/,
  /\b(Type|Reference|Syntax|Range)Error\b/,
  /Exception/,
  /ExpressionAttribute|ConditionExpression|KeyConditionExpression|ConditionalCheck/,
  /Unexpected token|in JSON at position/,
  /Internal Server Error/,
  /\bundefined\b/,
];

function check(sent: Sent, got: Received) {
  const where = `${sent.method} ${sent.path.slice(0, 200)} headers=${JSON.stringify(sent.headers).slice(0, 600)} body=${(sent.body ?? "").slice(0, 200)}`;
  expect(got.status, `${where}\n=> ${got.text.slice(0, 500)}`).toBeLessThan(500);
  expect(got.status, where).toBeGreaterThanOrEqual(200);
  const request = `${decodeSafe(sent.path)} ${sent.body ?? ""}`;
  // Successful reads echo what earlier requests stored (any text at all); errors must only explain.
  for (const leak of got.status < 300 ? [] : LEAKS) {
    const m = leak.exec(got.text);
    if (m && !request.includes(m[0]))
      throw new Error(`${where}\n=> leaks ${JSON.stringify(m[0])}: ${got.text.slice(0, 500)}`);
  }
  if (sent.method === "HEAD") return;
  try {
    expectMatchesSpec(sent.method, sent.path, got);
  } catch (error) {
    throw new Error(`${where}\n${(error as Error).message}\nheaders: ${headerText(got.headers)}`);
  }
}

function headerText(headers: Headers): string {
  const out: Record<string, string> = {};
  headers.forEach((value, key) => {
    out[key] = value;
  });
  return JSON.stringify(out);
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

async function snapshot(): Promise<Map<string, string>> {
  const items = new Map<string, string>();
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({ TableName: TABLE, ConsistentRead: true, ExclusiveStartKey }),
    );
    for (const item of page.Items ?? [])
      items.set(item.id as string, JSON.stringify(item, Object.keys(item).sort()));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

/** Every difference between the two snapshots must be the effect of a request answered 2xx. */
function explain(before: Map<string, string>, after: Map<string, string>, effects: Effects) {
  const sessionOf = (json: string) => JSON.parse(json) as Record<string, unknown>;
  const removedLegit = (item: Record<string, unknown>): boolean => {
    if (typeof item.sessionId === "string") {
      const owner = before.get(item.sessionId) ?? after.get(item.sessionId);
      // Or the token was registered again in this batch, for a session that was then ended.
      const reRegistered = (effects.createdWithToken.get(item.id as string) ?? []).some((created) =>
        removedLegit({ id: created.id, userId: created.user }),
      );
      return (
        effects.deleted.has(item.sessionId) ||
        (owner !== undefined && removedLegit(sessionOf(owner))) ||
        !after.has(item.sessionId) ||
        reRegistered
      );
    }
    return effects.deleted.has(item.id as string) || effects.deletedAll.has(item.userId as string);
  };
  for (const [id, json] of after) {
    const previous = before.get(id);
    const item = sessionOf(json);
    if (previous === undefined) {
      const createdBy = typeof item.sessionId === "string" ? item.sessionId : id;
      expect(effects.created.has(createdBy), `item ${id} appeared without an acknowledged create`).toBe(true);
    } else if (previous !== json && typeof item.sessionId === "string") {
      // A token item names another session only when that token was registered again.
      expect(
        effects.created.has(item.sessionId),
        `token item ${id} moved to ${item.sessionId} without an acknowledged create`,
      ).toBe(true);
    } else if (previous !== json && touchedOnly(sessionOf(previous), item)) {
      // A use recorded by a request with the session's own credential (section 8): not a change of state.
    } else if (previous !== json) {
      const old = sessionOf(previous);
      expect(effects.deactivated.has(id), `item ${id} changed without an acknowledged deactivation`).toBe(
        true,
      );
      // A deactivation (who did it included), possibly with a recorded use (section 8) in the same batch.
      const { isActive, deactivatedAt, updatedAt, deactivatedBy, lastActiveAt, idleExpiresAt, ttl, ...rest } =
        item;
      const {
        isActive: _a,
        deactivatedAt: _d,
        updatedAt: _u,
        deactivatedBy: _b,
        lastActiveAt: _l,
        idleExpiresAt: _i,
        ttl: _t,
        ...oldRest
      } = old;
      expect(deactivatedBy).toBe(item.userId);
      expect(rest).toEqual(oldRest);
      expect(isActive).toBe(false);
    }
  }
  for (const [id, json] of before) {
    if (after.has(id)) continue;
    expect(
      removedLegit(sessionOf(json)),
      `item ${json} vanished without an acknowledged delete; acknowledged: ${effects.acknowledged.join("\n")}`,
    ).toBe(true);
  }
}

/**
 * What must hold after every batch, whatever was acknowledged: a live session that holds a token digest
 * is named by that token's item (else its token stopped working), and no live token item names a
 * session that is gone (else re-registering the token answers 409 for nothing).
 */
function holdsTogether(after: Map<string, string>, now: string) {
  const items = new Map([...after].map(([id, json]) => [id, JSON.parse(json) as Record<string, any>]));
  for (const [id, item] of items) {
    const live = typeof item.expiresAt === "string" && item.expiresAt > now && item.ended === undefined;
    if (!live) continue;
    if (typeof item.sessionId === "string") {
      expect(items.has(item.sessionId), `token item ${id} names ${item.sessionId}, which is gone`).toBe(true);
    } else if (typeof item.tokenDigest === "string") {
      const token = items.get(`token#${item.tokenDigest}`);
      expect(token?.sessionId, `live session ${id} (user ${item.userId}) lost its token item`).toBe(id);
    }
  }
}

/** Whether `after` differs from `before` only by a recorded use (later `lastActiveAt`, its idle window, TTL). */
function touchedOnly(before: Record<string, unknown>, after: Record<string, unknown>): boolean {
  const { lastActiveAt, idleExpiresAt, ttl, ...rest } = after;
  const { lastActiveAt: l0, idleExpiresAt: _i, ttl: _t, ...oldRest } = before;
  return (
    typeof lastActiveAt === "string" &&
    lastActiveAt > String(l0 ?? before.createdAt) &&
    JSON.stringify(rest, Object.keys(rest).sort()) === JSON.stringify(oldRest, Object.keys(oldRest).sort())
  );
}

interface Effects {
  created: Set<string>;
  /** Sessions created with a token of their own, by the key of that token's item. */
  createdWithToken: Map<string, { id: string; user: string }[]>;
  deleted: Set<string>;
  deletedAll: Set<string>;
  deactivated: Set<string>;
  /** The requests of the batch that were answered 2xx, for the failure message. */
  acknowledged: string[];
}

function record(sent: Sent, actors: string[], current: string[], got: Received, effects: Effects) {
  if (got.status < 200 || got.status >= 300) return;
  effects.acknowledged.push(
    `${sent.method} ${sent.path.slice(0, 120)} as ${actors.join("|") || "-"} => ${got.status}`,
  );
  const pathname = sent.path.split("?")[0] as string;
  const segments = pathname.split("/");
  const method = sent.method;
  // `current` on a user route names the credential's own session (any of them, for a token that was
  // registered more than once).
  const idsOf = (segment: string) => {
    const id = decodeSafe(segment);
    return id === "current" && pathname.startsWith("/api/") ? current : [id];
  };
  if (method === "POST" && got.status === 201) {
    effects.created.add(got.body.id);
    const user = got.body.user_id as string;
    if (typeof got.body.token === "string" && got.body.token !== got.body.access_token) {
      if (plantedTokens.includes(got.body.token)) reached.plantedTokenRegisteredAgain++;
      registerToken(got.body.token, user, got.body.id);
      const key = `token#${digest(got.body.token)}`;
      effects.createdWithToken.set(key, [
        ...(effects.createdWithToken.get(key) ?? []),
        { id: got.body.id, user },
      ]);
    }
    sessions.push({ id: got.body.id, user, accessToken: got.body.access_token });
  } else if (method === "DELETE" && pathname === "/api/sessions") {
    reached.deleteAll++;
    for (const actor of actors) effects.deletedAll.add(actor);
  } else if (method === "DELETE" && pathname.startsWith("/sessions/user/")) {
    effects.deletedAll.add(decodeSafe(segments.at(-1) as string));
  } else if (method === "DELETE") {
    for (const id of idsOf(segments.at(-1) as string)) effects.deleted.add(id);
  } else if (method === "PATCH") {
    for (const id of idsOf(segments.at(-2) as string)) effects.deactivated.add(id);
  }
}

describe("fuzzing the running service", () => {
  it(`${BATCHES * BATCH_SIZE} generated requests: no 5xx, documented shapes, no leaks, rejected requests change nothing`, async () => {
    let total = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(generated, { minLength: BATCH_SIZE, maxLength: BATCH_SIZE }),
        fc.array(fc.constantFrom(...USERS), { maxLength: 2 }),
        async (batch, plants) => {
          // Expired sessions with a registered token, as the TTL sweeper may leave them for days.
          for (const user of plants) {
            const token = `fuzz-planted-${crypto.randomUUID()}`;
            const planted = await plantExpired(user, { tokenDigest: digest(token), tableName: TABLE });
            registerToken(token, user, planted.id);
            plantedTokens.push(token);
          }
          const before = await snapshot();
          const effects: Effects = {
            created: new Set(),
            createdWithToken: new Map(),
            deleted: new Set(),
            deletedAll: new Set(),
            deactivated: new Set(),
            acknowledged: [],
          };
          await pool(batch, CONCURRENCY, async (g) => {
            const { sent, actors, current } = materialize(g);
            const got = await send(sent);
            total++;
            statuses.set(got.status, (statuses.get(got.status) ?? 0) + 1);
            check(sent, got);
            record(sent, actors, current, got, effects);
          });
          const after = await snapshot();
          explain(before, after, effects);
          holdsTogether(after, new Date().toISOString());
        },
      ),
      { numRuns: BATCHES, endOnFailure: true, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
    );
    expect(total).toBe(BATCHES * BATCH_SIZE);
    // The generator reached the service's every outcome, not only its front door.
    const seen = [...statuses.keys()];
    for (const status of [200, 201, 400, 401, 403, 404, 405, 413]) expect(seen).toContain(status);
    console.info(
      `fuzz: ${total} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}, ${JSON.stringify(reached)}`,
    );
  }, 300_000);

  // `new URL(target, base)` would read `//x/...` as an authority: `//%2500/..` threw (a 500),
  // `//sessions` was served as `/` and `//api/sessions` as the admin list `/sessions`.
  it("answers a request-target starting with // as an unknown path, not 500 or another route", async () => {
    for (const path of ["//%2500/..", "//sessions", "//api/sessions"]) {
      const got = await send({ method: "GET", path, headers: { authorization: `Bearer ${tokens.admin}` } });
      expect(got.status, path).toBe(404);
      expectMatchesSpec("GET", path, got);
    }
  });

  // A user id is any 1-256 characters and the 404 echoes it, line breaks included: the document's
  // pattern for that detail must match them (`.` does not).
  it("documents the 404 of the last-session route for a user id holding a line break", async () => {
    const path = `/sessions/user/${encodeURIComponent("someone\nelse")}/last`;
    const got = await send({ method: "GET", path, headers: { authorization: `Bearer ${tokens.admin}` } });
    expect(got.status).toBe(404);
    expectMatchesSpec("GET", path, got);
  });
});
