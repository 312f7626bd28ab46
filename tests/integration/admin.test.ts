import { jwtVerify } from "jose";
import { describe, expect, inject, it } from "vitest";
import { api, signToken, uniqueUser, userToken } from "../support/api.ts";
import { call } from "../support/openapi.ts";
import {
  admin$,
  adminListOf,
  createFor,
  fromNow,
  newOpaqueToken,
  testUsers,
  walk,
} from "../support/sessions.ts";

const RESOURCE_KEYS = [
  "created_at",
  "deactivated_at",
  "expires_at",
  "id",
  "idle_expires_at",
  "ip_address",
  "is_active",
  "last_active_at",
  "updated_at",
  "user_agent",
  "user_id",
];
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const user = testUsers("user123");

describe("seed 3: every curl line of the example usage, with an admin token", () => {
  it("answers each line in order with seed 3's shapes and messages", async () => {
    const token = await admin$();
    // A clean slate for seed 3's user, so the 404 and the empty list below are exact.
    expect(
      (await call("/api/sessions", { method: "DELETE", token: await userToken("user123") })).status,
    ).toBe(200);

    // More live sessions than the largest page below, so the list pages are full whatever else the
    // shared table holds (other tests only ever remove their own sessions).
    const crowd = user("seed3-crowd");
    for (let i = 0; i < 21; i++) await createFor(crowd);
    const newestFirst = (list: { created_at: string }[]) =>
      list.every((s, i) => i === 0 || (list[i - 1] as { created_at: string }).created_at >= s.created_at);

    // curl "http://localhost:8000/sessions/"
    const all = await call("/sessions/", { token });
    expect(all.status).toBe(200);
    expect(all.body).toHaveLength(10);
    expect(newestFirst(all.body)).toBe(true);
    expect(all.headers.get("link")).toMatch(/^<\/sessions\/\?limit=10&cursor=[^>]+>; rel="next"$/);

    // curl "http://localhost:8000/sessions/?limit=20&offset=0"
    const page = await call("/sessions/?limit=20&offset=0", { token });
    expect(page.status).toBe(200);
    expect(page.body).toHaveLength(20);
    expect(newestFirst(page.body)).toBe(true);
    expect(page.headers.get("link")).not.toBeNull();

    // curl "http://localhost:8000/sessions/123"
    const missing = await call("/sessions/123", { token });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: "Session with id 123 not found", code: "NOT_FOUND" });

    // curl "http://localhost:8000/sessions/user/user123"
    const none = await call("/sessions/user/user123", { token });
    expect(none.status).toBe(200);
    expect(none.body).toEqual([]);

    // curl "http://localhost:8000/sessions/user/user123/last"
    const noLast = await call("/sessions/user/user123/last", { token });
    expect(noLast.status).toBe(404);
    expect(noLast.body).toEqual({ detail: "No sessions found for user user123", code: "NOT_FOUND" });

    // curl -X POST "http://localhost:8000/sessions/user/user123"
    const created = await call("/sessions/user/user123", {
      method: "POST",
      token,
      headers: { "user-agent": "curl/8.5.0" },
    });
    expect(created.status).toBe(201);
    expect(Object.keys(created.body).sort()).toEqual([...RESOURCE_KEYS, "access_token", "token"].sort());
    expect(created.body).toMatchObject({
      user_id: "user123",
      ip_address: null,
      user_agent: null,
      is_active: true,
      deactivated_at: null,
    });
    expect(created.body.id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(created.body.token).toBe(created.body.access_token);
    expect(created.body.updated_at).toBe(created.body.created_at);
    const lifetime = Date.parse(created.body.expires_at) - Date.parse(created.body.created_at);
    expect(lifetime).toBe(86_400_000);

    // The same lines now see the new session.
    const last = await call("/sessions/user/user123/last", { token });
    expect(last.status).toBe(200);
    const { token: _t, access_token: _a, ...resource } = created.body;
    expect(last.body).toEqual(resource);
    expect((await call("/sessions/user/user123", { token })).body).toEqual([resource]);
    expect((await call(`/sessions/${created.body.id}`, { token })).body).toEqual(resource);
  });
});

describe("seed 1: the four controller functions", () => {
  it("createSession takes token, userId and expiresAt and answers 201 with the session", async () => {
    const userId = user("seed1");
    const expiresAt = new Date(Date.now() + 3 * 86_400_000);
    expiresAt.setUTCHours(23, 59, 59, 0);
    const token = newOpaqueToken();
    const sentAt = Math.floor(Date.now() / 1000);
    const response = await call("/sessions", {
      method: "POST",
      token: await admin$(),
      body: { token, userId, expiresAt: expiresAt.toISOString() },
    });
    const answeredAt = Math.ceil(Date.now() / 1000);
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({
      user_id: userId,
      expires_at: expiresAt.toISOString(),
      token,
      is_active: true,
      ip_address: null,
      user_agent: null,
    });
    const { payload } = await jwtVerify(
      response.body.access_token,
      new TextEncoder().encode(inject("jwtSecret")),
      { algorithms: ["HS256"] },
    );
    expect(Object.keys(payload).sort()).toEqual(["exp", "iat", "sid", "sub"]);
    expect(payload).toMatchObject({
      sub: userId,
      sid: response.body.id,
      exp: Math.floor(expiresAt.getTime() / 1000),
    });
    // Issued while the request was in flight, however long it took.
    expect(payload.iat).toBeGreaterThanOrEqual(sentAt);
    expect(payload.iat).toBeLessThanOrEqual(answeredAt);
  });

  it("createSession stores a numeric userId as its decimal string", async () => {
    const numeric = Number(`9${Date.now()}`.slice(0, 15)) + Math.floor(Math.random() * 1000);
    user.track(String(numeric));
    const response = await call("/sessions", {
      method: "POST",
      token: await admin$(),
      body: { userId: numeric },
    });
    expect(response.status).toBe(201);
    expect(response.body.user_id).toBe(String(numeric));
    const listed = await call(`/sessions/user/${numeric}`, { token: await admin$() });
    expect(listed.body.map((s: any) => s.id)).toEqual([response.body.id]);
  });

  it("createSession accepts the snake_case aliases and the optional device fields", async () => {
    const userId = user("alias");
    const expires = fromNow(3_600_000);
    const response = await call("/sessions", {
      method: "POST",
      token: await admin$(),
      body: {
        user_id: userId,
        userId,
        expires_at: expires,
        ip_address: "2001:db8::1",
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
      },
    });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({
      user_id: userId,
      expires_at: expires,
      ip_address: "2001:db8::1",
      user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
    });
  });

  it("createSession accepts an expiry with an offset and stores it in UTC", async () => {
    const userId = user("offset");
    const at = new Date(Date.now() + 7_200_000);
    at.setUTCMilliseconds(0);
    const local = new Date(at.getTime() + 2 * 3_600_000).toISOString().replace(/\.000Z$/, "+02:00");
    const response = await call("/sessions", {
      method: "POST",
      token: await admin$(),
      body: { userId, expiresAt: local },
    });
    expect(response.status).toBe(201);
    expect(response.body.expires_at).toBe(at.toISOString());
  });

  it("getAllSessions lists every session newest first, each embedding its user", async () => {
    const userId = user("all");
    const token = await admin$();
    const plain = await createFor(userId);
    const withProfile = await call("/sessions", {
      method: "POST",
      token,
      body: { userId, user: { id: "ignored", email: "ada@example.com", name: "Ada" } },
    });
    expect(withProfile.status).toBe(201);

    const pages = await walk("/sessions?limit=100", token);
    const all = pages.flatMap((page) => page.body);
    const mine = all.filter((s) => s.user_id === userId);
    expect(mine.map((s) => s.id)).toEqual([withProfile.body.id, plain.id]);
    expect(mine[0].user).toEqual({ id: userId, email: "ada@example.com", name: "Ada" });
    expect(mine[1].user).toEqual({ id: userId });
    const times = all.map((s) => s.created_at);
    expect(times).toEqual([...times].sort().reverse());
    expect(new Set(all.map((s) => s.id)).size).toBe(all.length);
  });

  it("getSessionsByUser lists that user's sessions newest first, [] for an unknown user", async () => {
    const userId = user("byuser");
    const other = user("byuser-other");
    const first = await createFor(userId);
    const second = await createFor(userId);
    await createFor(other);
    const listed = await call(`/sessions/user/${userId}`, { token: await admin$() });
    expect(listed.status).toBe(200);
    expect(listed.body.map((s: any) => s.id)).toEqual([second.id, first.id]);
    expect(listed.headers.get("link")).toBeNull();
    const unknown = await call(`/sessions/user/${uniqueUser("nobody")}`, { token: await admin$() });
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual([]);
  });

  it('deleteSession answers {"message":"Session deleted"} and the session is gone', async () => {
    const userId = user("delete");
    const keep = await createFor(userId);
    const gone = await createFor(userId);
    const token = await admin$();
    const response = await call(`/sessions/${gone.id}`, { method: "DELETE", token });
    expect(response.status).toBe(200);
    expect(response.text).toBe('{"message":"Session deleted"}');
    const again = await call(`/sessions/${gone.id}`, { method: "DELETE", token });
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ detail: `Session with id ${gone.id} not found`, code: "NOT_FOUND" });
    expect((await call(`/sessions/${gone.id}`, { token })).status).toBe(404);
    expect((await adminListOf(userId)).map((s) => s.id)).toEqual([keep.id]);
  });
});

describe("admin routes", () => {
  it("POST /sessions/user/{user_id} takes an optional body with the same fields", async () => {
    const userId = user("create-user");
    const expires = fromNow(600_000);
    const response = await call(`/sessions/user/${userId}`, {
      method: "POST",
      token: await admin$(),
      body: { userId, expiresAt: expires, ip_address: "10.0.0.1", user: { plan: "pro" } },
    });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ user_id: userId, expires_at: expires, ip_address: "10.0.0.1" });
    const all = (await walk("/sessions?limit=100", await admin$())).flatMap((p) => p.body);
    expect(all.find((s) => s.id === response.body.id)?.user).toEqual({ plan: "pro", id: userId });
  });

  it("gives a session without expiresAt exactly the default lifetime of 24 hours", async () => {
    const userId = user("lifetime");
    const token = await admin$();
    const created = await Promise.all([
      ...Array.from({ length: 15 }, () => createFor(userId)),
      ...Array.from({ length: 15 }, async () => {
        const response = await call("/sessions", { method: "POST", token, body: { userId } });
        expect(response.status).toBe(201);
        return response.body;
      }),
    ]);
    for (const session of created) {
      expect(Date.parse(session.expires_at) - Date.parse(session.created_at), session.id).toBe(86_400_000);
    }
  });

  it("accepts an expiry just inside the 30-day maximum", async () => {
    const expiresAt = fromNow(2_592_000_000 - 10_000);
    const response = await call("/sessions", {
      method: "POST",
      token: await admin$(),
      body: { userId: user("max-ttl"), expiresAt },
    });
    expect(response.status).toBe(201);
    expect(response.body.expires_at).toBe(expiresAt);
  });

  it("accepts an empty body and a user id that needs percent-encoding", async () => {
    const userId = `${user("enc")}/é @x`;
    user.track(userId);
    const created = await call(`/sessions/user/${encodeURIComponent(userId)}`, {
      method: "POST",
      token: await admin$(),
      rawBody: "",
    });
    expect(created.status).toBe(201);
    expect(created.body.user_id).toBe(userId);
    const last = await call(`/sessions/user/${encodeURIComponent(userId)}/last`, { token: await admin$() });
    expect(last.body.id).toBe(created.body.id);
  });

  it("GET /sessions/user/{user_id}/last answers the newest session, deactivated ones included", async () => {
    const userId = user("last");
    await createFor(userId);
    const newest = await createFor(userId);
    const off = await call(`/api/sessions/${newest.id}/deactivate`, {
      method: "PATCH",
      token: await userToken(userId),
    });
    expect(off.status).toBe(200);
    const last = await call(`/sessions/user/${userId}/last`, { token: await admin$() });
    expect(last.status).toBe(200);
    expect(last.body.id).toBe(newest.id);
    expect(last.body.is_active).toBe(false);
    expect(last.body.deactivated_at).toMatch(ISO_MS);
    expect(last.body.updated_at).toBe(last.body.deactivated_at);
    const byId = await call(`/sessions/${newest.id}`, { token: await admin$() });
    expect(byId.body).toEqual(last.body);
  });

  it("answers 401 without a token, with a bad one, and with a session token; 403 with a user token", async () => {
    const userId = user("authz");
    const session = await createFor(userId, { token: newOpaqueToken() });
    const requests: [string, string][] = [
      ["POST", "/sessions"],
      ["GET", "/sessions"],
      ["GET", "/sessions/"],
      ["GET", `/sessions/${session.id}`],
      ["DELETE", `/sessions/${session.id}`],
      ["POST", `/sessions/user/${userId}`],
      ["GET", `/sessions/user/${userId}`],
      ["GET", `/sessions/user/${userId}/last`],
    ];
    const expired = await signToken({ sub: "admin", scope: "sessions:admin" }, { expiresIn: -120 });
    const wrongKey = await signToken(
      { sub: "admin", scope: "sessions:admin" },
      { secret: "another-secret-another-secret-0123456789" },
    );
    const unauthorized = { detail: "Invalid or missing authentication token", code: "UNAUTHORIZED" };
    for (const [method, path] of requests) {
      const body = method === "POST" ? { userId } : undefined;
      for (const token of [undefined, "not-a-token", expired, wrongKey, session.token]) {
        const response = await call(path, { method, ...(token !== undefined && { token }), body });
        expect(response.status, `${method} ${path} ${token}`).toBe(401);
        expect(response.body).toEqual(unauthorized);
        expect(response.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
      }
      for (const token of [await userToken(userId), session.access_token]) {
        const response = await call(path, { method, token, body });
        expect(response.status, `${method} ${path}`).toBe(403);
        expect(response.body).toEqual({
          detail: "This token does not carry the sessions:admin scope",
          code: "FORBIDDEN",
        });
      }
    }
    // Nothing above changed anything.
    expect((await adminListOf(userId)).map((s) => s.id)).toEqual([session.id]);
  });

  it("opens with the admin scope among others, and the Bearer scheme in any case", async () => {
    const token = await signToken({ sub: "ops", scope: "openid sessions:admin profile" });
    const response = await api("/sessions?limit=1", { headers: { authorization: `bEaReR ${token}` } });
    expect(response.status).toBe(200);
    const scopeless = await signToken({ sub: "ops", scope: "sessions:administrator" });
    expect((await call("/sessions?limit=1", { token: scopeless })).status).toBe(403);
  });
});
