import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { table, userToken } from "../support/api.ts";
import { call } from "../support/openapi.ts";
import { admin$, adminListOf, createFor, normalized, testUsers } from "../support/sessions.ts";

const user = testUsers();

const envelope = (message: string) => ({
  success: true,
  message,
  timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
  requestId: expect.any(String),
});

const notFound = (action: "delete" | "deactivate") => ({
  success: false,
  message: "Session not found or unauthorized",
  error: {
    code: "SESSION_NOT_FOUND",
    details: `The requested session does not exist or you don't have permission to ${action} it`,
  },
  timestamp: expect.any(String),
  requestId: expect.any(String),
});

const unauthorized = {
  success: false,
  message: "Unauthorized",
  error: { code: "UNAUTHORIZED", details: "Invalid or missing authentication token" },
  timestamp: expect.any(String),
  requestId: expect.any(String),
};

const absentId = () => randomBytes(24).toString("base64url");

describe("seed 2: GET /api/sessions", () => {
  it("answers the caller's active sessions newest first in the envelope", async () => {
    const userId = user("list");
    const older = await createFor(userId, { ip_address: "192.168.1.1", user_agent: "Mozilla/5.0" });
    const newer = await createFor(userId);
    const deactivated = await createFor(userId);
    await createFor(user("list-other"));
    const token = await userToken(userId);
    const off = await call(`/api/sessions/${deactivated.id}/deactivate`, { method: "PATCH", token });
    expect(off.status).toBe(200);

    const response = await call("/api/sessions", { token });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      ...envelope("Sessions retrieved successfully"),
      data: expect.any(Array),
    });
    expect(response.body.data.map((s: any) => s.id)).toEqual([newer.id, older.id]);
    expect(response.body.data[1]).toEqual({
      id: older.id,
      user_id: userId,
      ip_address: "192.168.1.1",
      user_agent: "Mozilla/5.0",
      created_at: older.created_at,
      updated_at: older.created_at,
      expires_at: older.expires_at,
      is_active: true,
      deactivated_at: null,
      last_active_at: older.created_at,
      idle_expires_at: null,
      is_current: false,
    });
  });

  it("answers an empty list for a user with no sessions", async () => {
    const response = await call("/api/sessions", { token: await userToken(user("empty")) });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ ...envelope("Sessions retrieved successfully"), data: [] });
  });

  it("answers seed 2's 401 without a token or with an invalid one", async () => {
    const variants: Record<string, string>[] = [
      {},
      { authorization: "Bearer" },
      { authorization: "Basic dXNlcjpwYXNz" },
    ];
    for (const headers of variants) {
      const response = await call("/api/sessions", { headers });
      expect(response.status).toBe(401);
      expect(response.body).toEqual(unauthorized);
      expect(response.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    }
    const response = await call("/api/sessions", { token: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.x" });
    expect(response.status).toBe(401);
    expect(response.body).toEqual(unauthorized);
  });
});

describe("seed 2: DELETE /api/sessions/{id}", () => {
  it("deletes the caller's own session", async () => {
    const userId = user("del");
    const keep = await createFor(userId);
    const gone = await createFor(userId);
    const token = await userToken(userId);
    const response = await call(`/api/sessions/${gone.id}`, { method: "DELETE", token });
    expect(response.status).toBe(200);
    expect(response.body).toEqual(envelope("Session deleted successfully"));
    expect(await table().get(gone.id)).toBeUndefined();
    expect((await adminListOf(userId)).map((s) => s.id)).toEqual([keep.id]);

    const again = await call(`/api/sessions/${gone.id}`, { method: "DELETE", token });
    expect(again.status).toBe(404);
    expect(again.body).toEqual(notFound("delete"));
  });

  it("deletes a deactivated session of the caller", async () => {
    const userId = user("del-off");
    const session = await createFor(userId);
    const token = await userToken(userId);
    expect((await call(`/api/sessions/${session.id}/deactivate`, { method: "PATCH", token })).status).toBe(
      200,
    );
    expect((await call(`/api/sessions/${session.id}`, { method: "DELETE", token })).status).toBe(200);
    expect(await adminListOf(userId)).toEqual([]);
  });
});

describe("seed 2: DELETE /api/sessions", () => {
  it("deletes every session of the caller and no one else's", async () => {
    const userId = user("all");
    const other = user("all-other");
    const mine = await Promise.all(Array.from({ length: 30 }, () => createFor(userId)));
    const theirs = await createFor(other);
    const response = await call("/api/sessions", { method: "DELETE", token: await userToken(userId) });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      ...envelope("All sessions deleted successfully"),
      data: { deleted: 30 },
    });
    expect(await adminListOf(userId)).toEqual([]);
    for (const session of mine.slice(0, 3)) expect(await table().get(session.id)).toBeUndefined();
    expect((await adminListOf(other)).map((s) => s.id)).toEqual([theirs.id]);
  });

  it("answers 200 when there is nothing to delete", async () => {
    const response = await call("/api/sessions", { method: "DELETE", token: await userToken(user("none")) });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ ...envelope("All sessions deleted successfully"), data: { deleted: 0 } });
  });
});

describe("seed 2: PATCH /api/sessions/{id}/deactivate", () => {
  it("deactivates the caller's session; repeating it is harmless and keeps the first deactivated_at", async () => {
    const userId = user("deact");
    const session = await createFor(userId);
    const token = await userToken(userId);
    const first = await call(`/api/sessions/${session.id}/deactivate`, { method: "PATCH", token });
    expect(first.status).toBe(200);
    expect(first.body).toEqual(envelope("Session deactivated successfully"));
    const [after] = await adminListOf(userId);
    expect(after).toMatchObject({ id: session.id, is_active: false, created_at: session.created_at });
    expect(Date.parse(after.deactivated_at)).toBeGreaterThanOrEqual(Date.parse(session.created_at));

    await new Promise((r) => setTimeout(r, 20));
    const second = await call(`/api/sessions/${session.id}/deactivate`, { method: "PATCH", token });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(envelope("Session deactivated successfully"));
    const [again] = await adminListOf(userId);
    expect(again).toEqual(after);

    // User reads list active sessions only; admin reads keep it until it expires.
    expect((await call("/api/sessions", { token })).body.data).toEqual([]);
    expect((await call(`/sessions/${session.id}`, { token: await admin$() })).body).toEqual(after);
  });

  it("answers 404 for a session that does not exist", async () => {
    const response = await call(`/api/sessions/${absentId()}/deactivate`, {
      method: "PATCH",
      token: await userToken(user("deact-none")),
    });
    expect(response.status).toBe(404);
    expect(response.body).toEqual(notFound("deactivate"));
  });
});

describe("cross-user isolation", () => {
  it("answers another user's session exactly like a missing one and leaves it intact", async () => {
    const owner = user("owner");
    const intruder = user("intruder");
    const victim = await createFor(owner, { ip_address: "10.1.2.3" });
    await createFor(intruder);
    const token = await userToken(intruder);
    const before = await table().get(victim.id);
    const missing = absentId();

    for (const [method, suffix] of [
      ["DELETE", ""],
      ["PATCH", "/deactivate"],
    ] as const) {
      const foreign = await call(`/api/sessions/${victim.id}${suffix}`, { method, token });
      const absent = await call(`/api/sessions/${missing}${suffix}`, { method, token });
      expect(foreign.status).toBe(404);
      expect(normalized(foreign)).toBe(normalized(absent));
      expect(foreign.headers.get("content-type")).toBe(absent.headers.get("content-type"));
    }

    expect(await table().get(victim.id)).toEqual(before);
    const listed = await call("/api/sessions", { token });
    expect(listed.body.data.map((s: any) => s.id)).not.toContain(victim.id);
    const ownerList = await call("/api/sessions", { token: await userToken(owner) });
    expect(ownerList.body.data.map((s: any) => s.id)).toEqual([victim.id]);
  });

  it("refuses a session-bound token whose sub is not the session's user", async () => {
    const owner = user("sid-owner");
    const session = await createFor(owner);
    const forged = await userToken(user("sid-forger"), { sid: session.id });
    const response = await call("/api/sessions", { token: forged });
    expect(response.status).toBe(401);
    expect(response.body).toEqual(unauthorized);
    expect(await adminListOf(owner)).toHaveLength(1);
  });

  it("a user's DELETE /api/sessions leaves another user's sessions", async () => {
    const a = user("iso-a");
    const b = user("iso-b");
    const kept = await createFor(b);
    await createFor(a);
    expect((await call("/api/sessions", { method: "DELETE", token: await userToken(a) })).status).toBe(200);
    expect((await adminListOf(b)).map((s) => s.id)).toEqual([kept.id]);
  });
});
