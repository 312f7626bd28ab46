import { describe, expect, it } from "vitest";
import { signToken, table, userToken } from "../support/api.ts";
import { call } from "../support/openapi.ts";
import {
  admin$,
  adminListOf,
  createFor,
  fromNow,
  newOpaqueToken,
  plantExpired,
  testUsers,
} from "../support/sessions.ts";

// The session lifecycle of CONTRACT section 8 under default settings: the current session, sign out
// others, an admin ending every session of a user, and introspection (RFC 7662).

const user = testUsers();

const notFoundBody = {
  success: false,
  message: "Session not found or unauthorized",
  error: { code: "SESSION_NOT_FOUND", details: expect.any(String) },
  timestamp: expect.any(String),
  requestId: expect.any(String),
};

/** The status a credential gets on the user family's list (200 while its session is usable). */
const listStatus = async (token: string) => (await call("/api/sessions", { token })).status;

describe("the current session", () => {
  it("GET /api/sessions/current answers the session behind a sid-bound JWT or an opaque token, with is_current", async () => {
    const alice = user("cur");
    const opaque = newOpaqueToken();
    const created = await createFor(alice, { token: opaque });
    for (const token of [created.access_token, opaque]) {
      const response = await call("/api/sessions/current", { token });
      expect(response.status, response.text).toBe(200);
      expect(response.body.message).toBe("Current session retrieved successfully");
      expect(response.body.data).toMatchObject({
        id: created.id,
        user_id: alice,
        is_current: true,
        created_at: created.created_at,
        expires_at: created.expires_at,
        idle_expires_at: null,
      });
    }
  });

  it("a plain user JWT has no current session: 404 SESSION_NOT_FOUND on /current and on the `current` path id", async () => {
    const alice = user("cur");
    const created = await createFor(alice);
    const plain = await userToken(alice);
    for (const [method, path] of [
      ["GET", "/api/sessions/current"],
      ["DELETE", "/api/sessions/current"],
      ["PATCH", "/api/sessions/current/deactivate"],
    ] as const) {
      const response = await call(path, { method, token: plain });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body).toEqual(notFoundBody);
    }
    expect(await listStatus(created.access_token)).toBe(200);
  });

  it("the list marks exactly the caller's current session, and none for a plain JWT", async () => {
    const alice = user("cur");
    const first = await createFor(alice);
    const second = await createFor(alice);
    const mine = await call("/api/sessions", { token: second.access_token });
    expect(mine.status).toBe(200);
    const flags = Object.fromEntries(mine.body.data.map((s: any) => [s.id, s.is_current]));
    expect(flags).toEqual({ [first.id]: false, [second.id]: true });
    const plain = await call("/api/sessions", { token: await userToken(alice) });
    expect(plain.body.data.map((s: any) => s.is_current)).toEqual([false, false]);
  });

  it("DELETE /api/sessions/current signs out this device only", async () => {
    const alice = user("cur");
    const opaque = newOpaqueToken();
    const here = await createFor(alice, { token: opaque });
    const other = await createFor(alice);
    const response = await call("/api/sessions/current", { method: "DELETE", token: opaque });
    expect(response.status, response.text).toBe(200);
    expect(response.body.message).toBe("Session deleted successfully");
    expect(await listStatus(opaque)).toBe(401);
    expect(await listStatus(here.access_token)).toBe(401);
    expect(await listStatus(other.access_token)).toBe(200);
    expect((await adminListOf(alice)).map((s) => s.id)).toEqual([other.id]);
  });

  it("PATCH /api/sessions/current/deactivate deactivates this device's session", async () => {
    const alice = user("cur");
    const here = await createFor(alice);
    const other = await createFor(alice);
    const response = await call("/api/sessions/current/deactivate", {
      method: "PATCH",
      token: here.access_token,
    });
    expect(response.status, response.text).toBe(200);
    expect(await listStatus(here.access_token)).toBe(401);
    expect(await listStatus(other.access_token)).toBe(200);
    const admin = await call(`/sessions/${here.id}`, { token: await admin$() });
    expect(admin.body).toMatchObject({ is_active: false });
  });
});

describe("DELETE /api/sessions?scope=", () => {
  it("scope=others ends every other session (deactivated ones counted, expired ones not) and keeps the current one", async () => {
    const alice = user("others");
    const keepToken = newOpaqueToken();
    const keep = await createFor(alice, { token: keepToken });
    const otherToken = newOpaqueToken();
    const other = await createFor(alice, { token: otherToken });
    const deactivated = await createFor(alice);
    await call(`/api/sessions/${deactivated.id}/deactivate`, {
      method: "PATCH",
      token: await userToken(alice),
    });
    const expired = await plantExpired(alice);

    const response = await call("/api/sessions?scope=others", { method: "DELETE", token: keepToken });
    expect(response.status, response.text).toBe(200);
    expect(response.body.message).toBe("Other sessions deleted successfully");
    expect(response.body.data).toEqual({ deleted: 2 });

    expect(await listStatus(keepToken)).toBe(200);
    expect(await listStatus(keep.access_token)).toBe(200);
    expect(await listStatus(otherToken)).toBe(401);
    expect(await listStatus(other.access_token)).toBe(401);
    expect((await adminListOf(alice)).map((s) => s.id)).toEqual([keep.id]);
    // The expired item is left to its expiry (neither deleted nor counted).
    expect(await table().get(expired.id)).toBeDefined();
    await table().delete(expired.id);
  });

  it("scope=all (the default) counts what it deleted", async () => {
    const alice = user("all");
    await createFor(alice);
    await createFor(alice);
    const token = await userToken(alice);
    const response = await call("/api/sessions?scope=all", { method: "DELETE", token });
    expect(response.body).toMatchObject({
      message: "All sessions deleted successfully",
      data: { deleted: 2 },
    });
    const again = await call("/api/sessions", { method: "DELETE", token });
    expect(again.body.data).toEqual({ deleted: 0 });
  });

  it("an unknown scope, or scope=others without a current session, is a 400 that changes nothing", async () => {
    const alice = user("scope");
    const created = await createFor(alice);
    for (const [query, token] of [
      ["?scope=everything", created.access_token],
      ["?scope=", created.access_token],
      ["?scope=OTHERS", created.access_token],
      ["?scope=others", await userToken(alice)],
    ] as const) {
      const response = await call(`/api/sessions${query}`, { method: "DELETE", token });
      expect(response.status, query).toBe(400);
      expect(response.body.error.code).toBe("VALIDATION_ERROR");
    }
    expect(await listStatus(created.access_token)).toBe(200);
  });
});

describe("DELETE /sessions/user/{user_id}", () => {
  it("ends every session of the user and every token of them, counting them; 0 for an unknown user", async () => {
    const alice = user("enduser");
    const bob = user("enduser");
    const opaque = newOpaqueToken();
    const a1 = await createFor(alice, { token: opaque });
    const a2 = await createFor(alice);
    const b1 = await createFor(bob);
    const admin = await admin$();
    const response = await call(`/sessions/user/${alice}`, { method: "DELETE", token: admin });
    expect(response.status, response.text).toBe(200);
    expect(response.body).toEqual({ message: "Sessions deleted", deleted: 2 });
    for (const token of [opaque, a1.access_token, a2.access_token]) expect(await listStatus(token)).toBe(401);
    expect(await listStatus(b1.access_token)).toBe(200);
    expect(await adminListOf(alice)).toEqual([]);
    // The token is free again.
    await createFor(alice, { token: opaque });

    const unknown = await call(`/sessions/user/${user("nobody")}`, { method: "DELETE", token: admin });
    expect(unknown.body).toEqual({ message: "Sessions deleted", deleted: 0 });
  });

  it("is an admin route: a user token gets 401/403 and nothing changes", async () => {
    const alice = user("enduser");
    const created = await createFor(alice);
    const denied = await call(`/sessions/user/${alice}`, { method: "DELETE", token: await userToken(alice) });
    expect(denied.status).toBe(403);
    const opaque = await call(`/sessions/user/${alice}`, { method: "DELETE", token: created.access_token });
    expect(opaque.status).toBe(403);
    expect(await listStatus(created.access_token)).toBe(200);
  });
});

describe("POST /sessions/introspect", () => {
  const introspect = async (body: string | Record<string, unknown>, contentType?: string) =>
    call("/sessions/introspect", {
      method: "POST",
      token: await admin$(),
      ...(typeof body === "string"
        ? { rawBody: body, headers: { "content-type": contentType ?? "application/x-www-form-urlencoded" } }
        : { body }),
    });

  it("an access token: active, with sub, sid, exp = the session's end, iat and token_type", async () => {
    const alice = user("intro");
    const created = await createFor(alice, { expires_at: fromNow(3_600_000) });
    const response = await introspect(
      `token=${encodeURIComponent(created.access_token)}&token_type_hint=access_token`,
    );
    expect(response.status, response.text).toBe(200);
    expect(response.body).toEqual({
      active: true,
      sub: alice,
      sid: created.id,
      exp: Math.floor(Date.parse(created.expires_at) / 1000),
      iat: expect.any(Number),
      token_type: "Bearer",
    });
  });

  it("a registered opaque token, as JSON: active, its session's sid and expiry", async () => {
    const alice = user("intro");
    const opaque = newOpaqueToken();
    const created = await createFor(alice, { token: opaque });
    const response = await introspect({ token: opaque });
    expect(response.body).toEqual({
      active: true,
      sub: alice,
      sid: created.id,
      exp: Math.floor(Date.parse(created.expires_at) / 1000),
      iat: Math.floor(Date.parse(created.created_at) / 1000),
      token_type: "Bearer",
    });
  });

  it("a plain user JWT: active without sid; an admin JWT carries its scope", async () => {
    const plain = await userToken("intro-plain");
    const response = await introspect({ token: plain });
    expect(response.body).toMatchObject({ active: true, sub: "intro-plain", token_type: "Bearer" });
    expect(response.body.sid).toBeUndefined();
    expect(response.body.scope).toBeUndefined();
    const admin = await introspect({ token: await admin$() });
    expect(admin.body).toMatchObject({ active: true, scope: "sessions:admin" });
  });

  it("inactive credentials get {active: false} and nothing more", async () => {
    const alice = user("intro");
    const opaque = newOpaqueToken();
    const deleted = await createFor(alice, { token: opaque });
    await call(`/sessions/${deleted.id}`, { method: "DELETE", token: await admin$() });
    const deactivated = await createFor(alice);
    await call(`/api/sessions/${deactivated.id}/deactivate`, {
      method: "PATCH",
      token: deactivated.access_token,
    });
    const expiredJwt = await signToken({ sub: alice }, { expiresIn: -3600 });
    for (const token of [
      opaque,
      deleted.access_token,
      deactivated.access_token,
      expiredJwt,
      "not-a-registered-token-at-all",
      "x",
      "a.b.c",
    ]) {
      const response = await introspect({ token });
      expect(response.status).toBe(200);
      expect(response.body, token).toEqual({ active: false });
    }
  });

  it("a missing token, an empty one, a repeated one or a body that is neither form nor JSON is a 400", async () => {
    for (const [body, type] of [
      ["", "application/x-www-form-urlencoded"],
      ["token_type_hint=access_token", "application/x-www-form-urlencoded"],
      ["token=", "application/x-www-form-urlencoded"],
      ["token=a&token=b", "application/x-www-form-urlencoded"],
      ["{}", "application/json"],
      ['{"token": 5}', "application/json"],
      ["{", "application/json"],
      ["token=abc", "text/plain"],
      ["<token>abc</token>", "application/xml"],
    ] as const) {
      const response = await introspect(body, type);
      expect(response.status, `${type} ${body}`).toBe(400);
      expect(response.body.code).toBe("VALIDATION_ERROR");
    }
    const bare = await call("/sessions/introspect", { method: "POST", token: await admin$() });
    expect(bare.status).toBe(400);
  });

  it("is an admin route: a user's token gets 403", async () => {
    const created = await createFor(user("intro"));
    const response = await call("/sessions/introspect", {
      method: "POST",
      token: await userToken("someone"),
      body: { token: created.access_token },
    });
    expect(response.status).toBe(403);
  });
});
