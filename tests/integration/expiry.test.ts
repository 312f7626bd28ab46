import { afterAll, describe, expect, it } from "vitest";
import { signToken, table, userToken } from "../support/api.ts";
import { call } from "../support/openapi.ts";
import {
  admin$,
  adminListOf,
  createFor,
  fromNow,
  plantExpired,
  testUsers,
  walk,
} from "../support/sessions.ts";

const user = testUsers();
const planted: string[] = [];
afterAll(async () => {
  for (const id of planted) await table().delete(id);
});

describe("an expired session not yet swept by the TTL sweeper", () => {
  it("is invisible to every read", async () => {
    const userId = user("expired");
    const live = await createFor(userId);
    // Newer than the live session: a read that ignored expiry would put it first.
    const expired = await plantExpired(userId, {
      createdAt: new Date(Date.parse(live.created_at) + 1_000).toISOString(),
    });
    planted.push(expired.id);
    const admin = await admin$();

    const byId = await call(`/sessions/${expired.id}`, { token: admin });
    expect(byId.status).toBe(404);
    expect(byId.body).toEqual({ detail: `Session with id ${expired.id} not found`, code: "NOT_FOUND" });

    const list = await call(`/sessions/user/${userId}`, { token: admin });
    expect(list.body.map((s: any) => s.id)).toEqual([live.id]);

    const last = await call(`/sessions/user/${userId}/last`, { token: admin });
    expect(last.status).toBe(200);
    expect(last.body.id).toBe(live.id);

    const all = (await walk("/sessions?limit=100", admin)).flatMap((page) => page.body);
    expect(all.map((s) => s.id)).toContain(live.id);
    expect(all.map((s) => s.id)).not.toContain(expired.id);

    const mine = await call("/api/sessions", { token: await userToken(userId) });
    expect(mine.body.data.map((s: any) => s.id)).toEqual([live.id]);
    // The item is still in the table: only the readers ignore it.
    expect(await table().get(expired.id)).toMatchObject({ id: expired.id, userId });
  });

  it("makes GET /sessions/user/{user_id}/last a 404 when it is the user's only session", async () => {
    const userId = user("only-expired");
    planted.push((await plantExpired(userId)).id);
    const last = await call(`/sessions/user/${userId}/last`, { token: await admin$() });
    expect(last.status).toBe(404);
    expect(last.body).toEqual({ detail: `No sessions found for user ${userId}`, code: "NOT_FOUND" });
    expect((await call(`/sessions/user/${userId}`, { token: await admin$() })).body).toEqual([]);
  });

  it("answers 404 to every write and is left as it was", async () => {
    const userId = user("expired-write");
    const expired = await plantExpired(userId);
    planted.push(expired.id);
    const before = await table().get(expired.id);
    const token = await userToken(userId);

    const adminDelete = await call(`/sessions/${expired.id}`, { method: "DELETE", token: await admin$() });
    expect(adminDelete.status).toBe(404);
    expect(adminDelete.body).toEqual({
      detail: `Session with id ${expired.id} not found`,
      code: "NOT_FOUND",
    });
    const userDelete = await call(`/api/sessions/${expired.id}`, { method: "DELETE", token });
    expect(userDelete.status).toBe(404);
    expect(userDelete.body.error.code).toBe("SESSION_NOT_FOUND");
    const deactivate = await call(`/api/sessions/${expired.id}/deactivate`, { method: "PATCH", token });
    expect(deactivate.status).toBe(404);
    expect(deactivate.body.error.code).toBe("SESSION_NOT_FOUND");

    expect(await table().get(expired.id)).toEqual(before);
  });

  it("refuses a token bound to it with 401", async () => {
    const userId = user("expired-sid");
    const expired = await plantExpired(userId);
    planted.push(expired.id);
    const bound = await signToken({ sub: userId, sid: expired.id });
    const response = await call("/api/sessions", { token: bound });
    expect(response.status).toBe(401);
    const admin = await signToken({ sub: userId, sid: expired.id, scope: "sessions:admin" });
    expect((await call("/sessions?limit=1", { token: admin })).status).toBe(401);
  });
});

describe("a session created with a short lifetime", () => {
  it("disappears from every read the moment it expires, and its token stops working", async () => {
    const userId = user("short");
    const session = await createFor(userId, { expiresAt: fromNow(1_500) });
    const token = session.access_token;
    expect((await call("/api/sessions", { token })).body.data.map((s: any) => s.id)).toEqual([session.id]);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(session.expires_at) - Date.now()) + 100));

    expect((await call("/api/sessions", { token })).status).toBe(401);
    expect((await call("/api/sessions", { token: await userToken(userId) })).body.data).toEqual([]);
    expect((await call(`/sessions/${session.id}`, { token: await admin$() })).status).toBe(404);
    expect(await adminListOf(userId)).toEqual([]);
    expect((await call(`/sessions/user/${userId}/last`, { token: await admin$() })).status).toBe(404);
  });
});
