import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../lib/dynamodb-local.ts";
import { functionDefaults } from "../../lib/routes.ts";
import { signToken } from "../support/api.ts";
import {
  type JwksServer,
  type ProviderKey,
  providerKey,
  providerToken,
  startJwksServer,
} from "./jwks-server.ts";
import { call, expectUnauthorized, type Runner, sleep, startRunner } from "./local-stack.ts";

// An OIDC provider (JWKS_URL, JWT_ISSUER, JWT_AUDIENCE) stood in for by a key-set server on loopback
// that counts its fetches. The service keeps one remote key set per cold start with a 30 s cooldown.

const ISSUER = "https://idp.sessions.test/";
const AUDIENCE = "sessions-api";
const COOLDOWN_MS = 30_000;

let rsa1: ProviderKey;
let rsa2: ProviderKey;
let ec1: ProviderKey;
let provider: JwksServer;
let runner: Runner;
const tokens: string[] = [];

const env = (jwksUrl: string) => ({
  DYNAMODB_ENDPOINT: inject("dynamoEndpoint"),
  TABLE_NAME: inject("tableName"),
  JWT_SECRET: inject("jwtSecret"),
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
  JWKS_URL: jwksUrl,
});

async function issued(key: ProviderKey, claims: Record<string, unknown> = {}, kid?: string) {
  const token = await providerToken(
    key,
    { sub: "oidc-user", iss: ISSUER, aud: AUDIENCE, ...claims },
    kid === undefined ? {} : { kid },
  );
  tokens.push(token);
  return token;
}

const unknownKids = (n: number) =>
  Promise.all(Array.from({ length: n }, (_, i) => issued(rsa2, {}, `unknown-${i}-${crypto.randomUUID()}`)));

/** Waits until the cooldown that began with the provider's last answered fetch has passed. */
async function afterCooldown() {
  const last = provider.fetches.at(-1) ?? Date.now();
  await sleep(Math.max(0, last + COOLDOWN_MS + 750 - Date.now()));
}

beforeAll(async () => {
  [rsa1, rsa2, ec1] = await Promise.all([
    providerKey("rsa-1", "RS256"),
    providerKey("rsa-2", "RS256"),
    providerKey("ec-1", "ES256"),
  ]);
  provider = await startJwksServer([rsa1, ec1]);
  runner = await startRunner(env(provider.url));
}, 180_000);

afterAll(async () => {
  await runner?.stop();
  await provider?.close();
});

describe("OIDC provider keys", () => {
  it("accepts RS256 and ES256 tokens on both families with one key-set fetch, ignoring the provider's sid", async () => {
    expect(provider.fetches).toHaveLength(0);
    for (const key of [rsa1, ec1]) {
      const user = await call(runner.url, "/api/sessions", { token: await issued(key) });
      expect(user.status, user.text).toBe(200);
      expect(user.body).toMatchObject({ success: true, data: [] });
      const admin = await call(runner.url, "/sessions?limit=1", {
        token: await issued(key, { scope: "openid sessions:admin" }),
      });
      expect(admin.status, admin.text).toBe(200);
      const noScope = await call(runner.url, "/sessions?limit=1", { token: await issued(key) });
      expect(noScope.status).toBe(403);
      const sid = await call(runner.url, "/api/sessions", {
        token: await issued(key, { sid: "idp-session-1" }),
      });
      expect(sid.status, sid.text).toBe(200);
    }
    expect(provider.fetches).toHaveLength(1);
  });

  it("refuses provider tokens with a wrong issuer, audience or expiry", async () => {
    const refused = [
      await issued(rsa1, { iss: "https://other-idp.test/" }),
      await issued(rsa1, { aud: "another-api" }),
      await issued(ec1, { exp: Math.floor(Date.now() / 1000) - 120 }),
      await issued(ec1, { sub: undefined }),
    ];
    for (const [i, token] of refused.entries()) {
      expectUnauthorized(expect, await call(runner.url, "/api/sessions", { token }), "user", `case ${i}`);
      expectUnauthorized(expect, await call(runner.url, "/sessions", { token }), "admin", `case ${i}`);
    }
  });

  it("fetches at most once per cooldown however many unknown kids arrive", async () => {
    const before = provider.fetches.length;
    const burst = await unknownKids(40);
    const replies = await Promise.all(burst.map((token) => call(runner.url, "/api/sessions", { token })));
    for (const reply of replies) expectUnauthorized(expect, reply, "user");
    for (const token of (await unknownKids(10)).slice(0, 10)) {
      expectUnauthorized(expect, await call(runner.url, "/api/sessions", { token }), "user");
    }
    expect(provider.fetches.length - before).toBeLessThanOrEqual(1);
  });

  it("picks up a rotated key set after the cooldown and drops the removed key", async () => {
    provider.keys = [rsa2, ec1];
    await afterCooldown();
    const before = provider.fetches.length;
    const fresh = await call(runner.url, "/api/sessions", { token: await issued(rsa2) });
    expect(fresh.status, fresh.text).toBe(200);
    expect(provider.fetches.length).toBe(before + 1);
    expectUnauthorized(
      expect,
      await call(runner.url, "/api/sessions", { token: await issued(rsa1) }),
      "user",
    );
    expect((await call(runner.url, "/api/sessions", { token: await issued(ec1) })).status).toBe(200);
    const burst = await unknownKids(30);
    for (const reply of await Promise.all(
      burst.map((token) => call(runner.url, "/api/sessions", { token })),
    )) {
      expectUnauthorized(expect, reply, "user");
    }
    expect(provider.fetches.length).toBe(before + 1);
  }, 60_000);

  it("keeps using cached keys while the provider fails, asks it at most once per cooldown, and never 503s", async () => {
    provider.mode = "error";
    for (const key of [rsa2, ec1]) {
      expect((await call(runner.url, "/api/sessions", { token: await issued(key) })).status).toBe(200);
    }
    await afterCooldown();
    const before = provider.fetches.length;
    for (const token of await unknownKids(10)) {
      expectUnauthorized(expect, await call(runner.url, "/api/sessions", { token }), "user");
      expect((await call(runner.url, "/api/sessions", { token: await issued(rsa2) })).status).toBe(200);
    }
    expect(provider.fetches.length - before).toBe(1);

    await provider.close();
    for (const key of [rsa2, ec1]) {
      const reply = await call(runner.url, "/api/sessions", { token: await issued(key) });
      expect(reply.status, reply.text).toBe(200);
    }
    expectUnauthorized(
      expect,
      await call(runner.url, "/api/sessions", { token: (await unknownKids(1))[0] }),
      "user",
    );
  }, 60_000);

  it("never writes a provider token to its log", () => {
    const logs = runner.logs();
    expect(logs).toContain('"status":200');
    for (const token of tokens) {
      for (const part of token.split(".")) expect(logs).not.toContain(part);
    }
  });
});

describe("a cold start that cannot fetch the provider's keys", () => {
  let cold: Runner | undefined;
  let late: JwksServer | undefined;
  afterAll(async () => {
    await cold?.stop();
    await late?.close();
  });

  it("answers 503 with Retry-After (not 500) until the provider answers, and HS256 keeps working", async () => {
    const port = await freePort();
    cold = await startRunner(env(`http://127.0.0.1:${port}/jwks.json`));
    const rs = await issued(rsa1, { scope: "sessions:admin" });

    const refused = await call(cold.url, "/api/sessions", { token: rs });
    expect(refused.status, refused.text).toBe(503);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(refused.body).toMatchObject({ success: false, error: { code: "SERVICE_UNAVAILABLE" } });
    const admin = await call(cold.url, "/sessions", { token: rs });
    expect(admin.status).toBe(503);
    expect(admin.body).toMatchObject({ detail: expect.any(String) });

    const hs = await signToken({ sub: "hs-user", iss: ISSUER, aud: AUDIENCE });
    expect((await call(cold.url, "/api/sessions", { token: hs })).status).toBe(200);

    // A provider that accepts the connection and never answers: abandoned after the fetch timeout.
    late = await startJwksServer([rsa1], port);
    late.mode = "hang";
    const hung = await call(cold.url, "/api/sessions", { token: rs });
    expect(hung.status).toBe(503);
    // Given up by the key set's own fetch timeout (the 503's log line names it), inside the function's
    // timeout: past it Lambda kills the function (middy's early answer covers the handler, not the
    // authentication before it). The bound is the contract's, five times the fetch timeout.
    expect(hung.ms).toBeLessThan(functionDefaults.timeoutSeconds * 1000);
    const cause = await logLineOf(cold, hung.headers.get("x-request-id") as string);
    expect(cause).toContain("JWKS could not be fetched");
    expect(cause).toContain("JWKSTimeout");
    expect(cause).not.toContain("before the function's timeout");

    late.mode = "ok";
    const recovered = await call(cold.url, "/api/sessions", { token: rs });
    expect(recovered.status, recovered.text).toBe(200);
    expect((await call(cold.url, "/sessions?limit=1", { token: rs })).status).toBe(200);
  }, 60_000);
});

/** The runner's log line for a request, waited for with a generous deadline. */
async function logLineOf(runner: Runner, requestId: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const line = runner
      .logs()
      .split("\n")
      .find((l) => l.includes(requestId) && l.includes("service unavailable"));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no "service unavailable" log line for ${requestId}`);
    await sleep(50);
  }
}
