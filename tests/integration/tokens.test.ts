import { readFileSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import { familyOf, routes } from "../../lib/routes.ts";
import { signToken, table, userToken } from "../support/api.ts";
import { call } from "../support/openapi.ts";
import {
  admin$,
  adminListOf,
  createFor,
  digest,
  newOpaqueToken,
  plantExpired,
  testUsers,
  walk,
} from "../support/sessions.ts";

const user = testUsers();

const seen: string[] = [];

const userUnauthorized = {
  success: false,
  message: "Unauthorized",
  error: { code: "UNAUTHORIZED", details: "Invalid or missing authentication token" },
  timestamp: expect.any(String),
  requestId: expect.any(String),
};
const adminUnauthorized = { detail: "Invalid or missing authentication token", code: "UNAUTHORIZED" };

/** Every route that takes credentials, with its path parameters filled in. */
function everyRoute(sessionId: string, userId: string) {
  const requests = routes
    .filter((route) => route.family !== "ops")
    .map((route) => ({
      method: route.method as string,
      path: route.path.replace("{id}", sessionId).replace("{user_id}", encodeURIComponent(userId)),
    }));
  requests.push({ method: "GET", path: "/sessions/" });
  return requests;
}

async function expectRefusedEverywhere(token: string, sessionId: string, userId: string) {
  for (const { method, path } of everyRoute(sessionId, userId)) {
    const response = await call(path, { method, token, ...(method === "POST" && { body: { userId } }) });
    expect(response.status, `${method} ${path}`).toBe(401);
    expect(response.body).toEqual(familyOf(path) === "user" ? userUnauthorized : adminUnauthorized);
  }
}

describe("a client-supplied token (seed 1)", () => {
  it("is a bearer credential for the user family from the moment it is registered", async () => {
    const userId = user("opaque");
    const opaque = newOpaqueToken();
    seen.push(opaque, digest(opaque));
    const session = await createFor(userId, { token: opaque });
    seen.push(session.access_token);
    expect(session.token).toBe(opaque);
    const other = await createFor(userId);

    const list = await call("/api/sessions", { token: opaque });
    expect(list.status).toBe(200);
    expect(list.body.data.map((s: any) => s.id)).toEqual([other.id, session.id]);

    const byJwt = await call("/api/sessions", { token: session.access_token });
    expect(byJwt.body.data).toEqual(list.body.data);

    const deleted = await call(`/api/sessions/${other.id}`, { method: "DELETE", token: opaque });
    expect(deleted.status).toBe(200);
    expect((await adminListOf(userId)).map((s) => s.id)).toEqual([session.id]);
  });

  it("is stored only as its SHA-256 digest and never returned by a read", async () => {
    const userId = user("never");
    const opaque = newOpaqueToken();
    // Its digest is not checked against the log: this test puts it in a request path itself.
    seen.push(opaque);
    const session = await createFor(userId, { token: opaque, user: { email: "x@example.com" } });
    seen.push(session.access_token);

    const item = await table().get(session.id);
    expect(item?.tokenDigest).toBe(digest(opaque));
    expect(JSON.stringify(item)).not.toContain(opaque);
    const tokenItem = await table().get(`token#${digest(opaque)}`);
    expect(tokenItem).toMatchObject({ sessionId: session.id, expiresAt: session.expires_at });
    expect(JSON.stringify(tokenItem)).not.toContain(opaque);

    const admin = await admin$();
    const reads = [
      await call(`/sessions/${session.id}`, { token: admin }),
      await call(`/sessions/user/${userId}`, { token: admin }),
      await call(`/sessions/user/${userId}/last`, { token: admin }),
      await call("/api/sessions", { token: opaque }),
      ...(await walk("/sessions?limit=100", admin)),
    ];
    for (const read of reads) {
      expect(read.status).toBe(200);
      expect(read.text).not.toContain(opaque);
      expect(read.text).not.toContain(digest(opaque));
      expect(read.text).not.toContain(session.access_token);
      expect(read.text).not.toContain("token");
    }
    // The registered-token item is not a session: no session route reaches it.
    const byKey = await call(`/sessions/${encodeURIComponent(`token#${digest(opaque)}`)}`, { token: admin });
    expect(byKey.status).toBe(400);
  });

  it("answers 409 when registered again while its session lives, creating nothing", async () => {
    const userId = user("dup");
    const second = user("dup-second");
    const opaque = newOpaqueToken();
    seen.push(opaque, digest(opaque));
    const session = await createFor(userId, { token: opaque });
    for (const [path, body] of [
      ["/sessions", { userId: second, token: opaque }],
      [`/sessions/user/${second}`, { token: opaque }],
      [`/sessions/user/${userId}`, { token: opaque }],
    ] as const) {
      const response = await call(path, { method: "POST", token: await admin$(), body });
      expect(response.status, path).toBe(409);
      expect(response.body).toEqual({
        detail: "This token is already registered to a live session",
        code: "TOKEN_CONFLICT",
      });
    }
    expect(await adminListOf(second)).toEqual([]);
    expect((await adminListOf(userId)).map((s) => s.id)).toEqual([session.id]);
    // The token still opens the first session only.
    const list = await call("/api/sessions", { token: opaque });
    expect(list.body.data.map((s: any) => s.id)).toEqual([session.id]);
  });

  it("stays registered while its session is deactivated, and is free again once it is deleted", async () => {
    const userId = user("reuse");
    const opaque = newOpaqueToken();
    seen.push(opaque, digest(opaque));
    const first = await createFor(userId, { token: opaque });
    const admin = await admin$();
    const off = await call(`/api/sessions/${first.id}/deactivate`, { method: "PATCH", token: opaque });
    expect(off.status).toBe(200);
    const whileDeactivated = await call("/sessions", {
      method: "POST",
      token: admin,
      body: { userId, token: opaque },
    });
    expect(whileDeactivated.status).toBe(409);

    expect((await call(`/sessions/${first.id}`, { method: "DELETE", token: admin })).status).toBe(200);
    expect(await table().get(`token#${digest(opaque)}`)).toBeUndefined();
    const again = await createFor(userId, { token: opaque });
    const list = await call("/api/sessions", { token: opaque });
    expect(list.status).toBe(200);
    expect(list.body.data.map((s: any) => s.id)).toEqual([again.id]);
  });

  it("is free again once its session has expired, even before the TTL sweeper ran", async () => {
    const userId = user("expired-token");
    const opaque = newOpaqueToken();
    seen.push(opaque, digest(opaque));
    await plantExpired(userId, { tokenDigest: digest(opaque) });
    const refused = await call("/api/sessions", { token: opaque });
    expect(refused.status).toBe(401);
    const session = await createFor(userId, { token: opaque });
    const list = await call("/api/sessions", { token: opaque });
    expect(list.status).toBe(200);
    expect(list.body.data.map((s: any) => s.id)).toEqual([session.id]);
  });

  it("never opens the admin family", async () => {
    const opaque = newOpaqueToken();
    seen.push(opaque, digest(opaque));
    await createFor(user("opaque-admin"), { token: opaque });
    const response = await call("/sessions", { token: opaque });
    expect(response.status).toBe(401);
    expect(response.body).toEqual(adminUnauthorized);
  });
});

describe("tokens of a deactivated or deleted session", () => {
  it("are refused at once with 401 on every route after deactivation", async () => {
    const userId = user("refuse-off");
    const opaque = newOpaqueToken();
    seen.push(opaque, digest(opaque));
    const session = await createFor(userId, { token: opaque });
    const sibling = await createFor(userId);
    seen.push(session.access_token);
    const adminBound = await signToken({ sub: userId, sid: session.id, scope: "sessions:admin" });
    for (const token of [opaque, session.access_token]) {
      expect((await call("/api/sessions", { token })).status).toBe(200);
    }
    expect((await call("/sessions?limit=1", { token: adminBound })).status).toBe(200);

    const off = await call(`/api/sessions/${session.id}/deactivate`, {
      method: "PATCH",
      token: session.access_token,
    });
    expect(off.status).toBe(200);

    for (const token of [opaque, session.access_token, adminBound]) {
      await expectRefusedEverywhere(token, session.id, userId);
    }
    // The refused requests changed nothing: the sibling session and the deactivated one are intact.
    const remaining = await adminListOf(userId);
    expect(remaining.map((s) => [s.id, s.is_active])).toEqual([
      [sibling.id, true],
      [session.id, false],
    ]);
    // A token not bound to the session still works for the same user.
    const plain = await call("/api/sessions", { token: await userToken(userId) });
    expect(plain.body.data.map((s: any) => s.id)).toEqual([sibling.id]);
  });

  it("are refused at once with 401 on every route after deletion", async () => {
    const userId = user("refuse-del");
    const opaque = newOpaqueToken();
    seen.push(opaque, digest(opaque));
    const session = await createFor(userId, { token: opaque });
    const sibling = await createFor(userId);
    seen.push(session.access_token);
    expect((await call("/api/sessions", { token: opaque })).status).toBe(200);

    const deleted = await call(`/api/sessions/${session.id}`, { method: "DELETE", token: opaque });
    expect(deleted.status).toBe(200);

    for (const token of [opaque, session.access_token]) {
      await expectRefusedEverywhere(token, sibling.id, userId);
    }
    expect((await adminListOf(userId)).map((s) => s.id)).toEqual([sibling.id]);
  });

  it("are refused after an admin deletes the session and after DELETE /api/sessions", async () => {
    const userId = user("refuse-admin");
    const a = await createFor(userId, { token: newOpaqueToken() });
    const b = await createFor(userId);
    seen.push(a.token, digest(a.token), a.access_token, b.access_token);
    expect((await call(`/sessions/${a.id}`, { method: "DELETE", token: await admin$() })).status).toBe(200);
    for (const token of [a.token, a.access_token]) {
      expect((await call("/api/sessions", { token })).status).toBe(401);
    }
    expect((await call("/api/sessions", { token: b.access_token })).status).toBe(200);
    expect((await call("/api/sessions", { method: "DELETE", token: b.access_token })).status).toBe(200);
    expect((await call("/api/sessions", { token: b.access_token })).status).toBe(401);
  });
});

describe("logs", () => {
  it("never hold a token, a token digest or the secret", async () => {
    // Its own traffic, so the test stands alone; the credentials the tests above used are checked too.
    const userId = user("logs");
    const admin = await admin$();
    const opaque = newOpaqueToken();
    const forged = await signToken({ sub: userId }, { secret: "another-secret-another-secret-0123456789" });
    const requestIds: string[] = [];
    const sent = async (path: string, options: Parameters<typeof call>[1]) => {
      const response = await call(path, options);
      requestIds.push(response.headers.get("x-request-id") as string);
      return response;
    };
    const created = await sent("/sessions", {
      method: "POST",
      token: admin,
      body: { userId, token: opaque },
    });
    expect(created.status).toBe(201);
    const mine = [opaque, digest(opaque), created.body.access_token, admin, forged];
    const statuses = [
      (await sent("/api/sessions", { token: opaque })).status,
      (await sent("/api/sessions", { token: created.body.access_token })).status,
      (await sent("/sessions", { method: "POST", token: admin, body: { userId, token: opaque } })).status,
      (await sent(`/api/sessions/${created.body.id}/deactivate`, { method: "PATCH", token: opaque })).status,
      (await sent("/api/sessions", { token: opaque })).status,
      (await sent("/api/sessions", { token: forged })).status,
      (await sent(`/sessions/${created.body.id}`, { method: "DELETE", token: admin })).status,
    ];
    expect(statuses).toEqual([200, 200, 409, 200, 401, 401, 200]);

    // The runner writes a line as each request ends: wait for all of this test's lines.
    const deadline = Date.now() + 15_000;
    let log = readFileSync(inject("logFile"), "utf8");
    while (!requestIds.every((id) => log.includes(id)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      log = readFileSync(inject("logFile"), "utf8");
    }
    for (const id of requestIds) expect(log, `request ${id} was not logged`).toContain(id);
    expect(log).toContain('"routeId":"UserListSessions"');
    for (const secret of [...mine, ...seen, inject("jwtSecret")]) expect(log).not.toContain(secret);
  });
});
