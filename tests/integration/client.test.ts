import { createSessionsClient, type SessionsClient } from "sessions-service/client";
import { beforeAll, describe, expect, it } from "vitest";
import { adminToken, baseUrl, uniqueUser, userToken } from "../support/api.ts";

// The typed client (client/, imported by the package's own name as its users import it) against
// the local runner: both families, and both error shapes.

let admin: SessionsClient;
beforeAll(async () => {
  admin = createSessionsClient({ baseUrl: baseUrl(), token: await adminToken() });
});

describe("sessions-service/client, admin family", () => {
  it("creates, lists, reads and deletes a session", async () => {
    const user = uniqueUser("client");
    const created = await admin.POST("/sessions", {
      body: { userId: user, user_agent: "client-test", user: { email: "a@example.com" } },
    });
    expect(created.response.status).toBe(201);
    const session = created.data;
    expect(session).toMatchObject({ user_id: user, user_agent: "client-test", is_active: true });
    expect(session?.access_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    const listed = await admin.GET("/sessions/user/{user_id}", {
      params: { path: { user_id: user }, query: { limit: 5 } },
    });
    expect(listed.data?.map((s) => s.id)).toEqual([session?.id]);

    const read = await admin.GET("/sessions/{id}", { params: { path: { id: session?.id ?? "" } } });
    expect(read.data).toMatchObject({ id: session?.id, user_id: user });

    const deleted = await admin.DELETE("/sessions/{id}", { params: { path: { id: session?.id ?? "" } } });
    expect(deleted.data).toEqual({ message: "Session deleted" });
    const gone = await admin.GET("/sessions/{id}", { params: { path: { id: session?.id ?? "" } } });
    expect(gone.response.status).toBe(404);
  });

  it("returns the admin error body, {detail, code}, as `error`", async () => {
    const missing = await admin.GET("/sessions/{id}", { params: { path: { id: "no-such-session" } } });
    expect(missing.data).toBeUndefined();
    expect(missing.error).toEqual({ detail: "Session with id no-such-session not found", code: "NOT_FOUND" });

    const anonymous = createSessionsClient({ baseUrl: baseUrl() });
    const refused = await anonymous.GET("/sessions", {});
    expect(refused.response.status).toBe(401);
    expect(refused.error).toMatchObject({ code: "UNAUTHORIZED" });

    const bad = await admin.POST("/sessions", { body: { userId: "" } });
    expect(bad.response.status).toBe(400);
    expect(bad.error).toMatchObject({ code: "VALIDATION_ERROR" });
  });
});

describe("sessions-service/client, user family", () => {
  it("lists the caller's sessions and deletes one of them with a session's access token", async () => {
    const user = uniqueUser("client");
    const first = (await admin.POST("/sessions/user/{user_id}", { params: { path: { user_id: user } } }))
      .data;
    const second = (await admin.POST("/sessions/user/{user_id}", { params: { path: { user_id: user } } }))
      .data;
    const alice = createSessionsClient({ baseUrl: baseUrl(), token: () => second?.access_token ?? "" });

    const mine = await alice.GET("/api/sessions");
    expect(mine.data).toMatchObject({ success: true, message: "Sessions retrieved successfully" });
    expect(mine.data?.data.map((s) => s.id)).toEqual([second?.id, first?.id]);

    const deleted = await alice.DELETE("/api/sessions/{id}", { params: { path: { id: first?.id ?? "" } } });
    expect(deleted.data).toMatchObject({ success: true, message: "Session deleted successfully" });
    const after = await alice.GET("/api/sessions");
    expect(after.data?.data.map((s) => s.id)).toEqual([second?.id]);
  });

  it("returns the user envelope as `error`", async () => {
    const stranger = createSessionsClient({ baseUrl: baseUrl(), token: await userToken(uniqueUser("x")) });
    const other = await admin.POST("/sessions", { body: { userId: uniqueUser("client") } });
    const refused = await stranger.DELETE("/api/sessions/{id}", {
      params: { path: { id: other.data?.id ?? "" } },
    });
    expect(refused.response.status).toBe(404);
    expect(refused.error).toMatchObject({
      success: false,
      message: "Session not found or unauthorized",
      error: { code: "SESSION_NOT_FOUND" },
    });
    expect(refused.error?.requestId).toBe(refused.response.headers.get("x-request-id"));

    const anonymous = createSessionsClient({ baseUrl: baseUrl() });
    const unauthorized = await anonymous.GET("/api/sessions");
    expect(unauthorized.error).toMatchObject({ success: false, error: { code: "UNAUTHORIZED" } });
  });

  it("sends no Authorization header without a token, and the one given otherwise", async () => {
    const seen: (string | null)[] = [];
    const spy = (token?: string) =>
      createSessionsClient({
        baseUrl: `${baseUrl()}/`,
        ...(token && { token }),
        fetch: async (request: Request) => {
          seen.push(request.headers.get("authorization"));
          return fetch(request);
        },
      });
    expect((await spy().GET("/health")).data).toEqual({ status: "ok" });
    await spy("abc").GET("/health");
    expect(seen).toEqual([null, "Bearer abc"]);
  });
});
