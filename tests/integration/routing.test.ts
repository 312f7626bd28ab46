import { readFileSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import { routes } from "../../lib/routes.ts";
import { api, userToken } from "../support/api.ts";
import { call, successStatus } from "../support/openapi.ts";
import { admin$, adminListOf, createFor, testUsers } from "../support/sessions.ts";

const user = testUsers();

const oversized = JSON.stringify({ pad: "p".repeat(20_000) });

describe("GET /health", () => {
  it("answers ok without credentials", async () => {
    const response = await call("/health");
    expect(response.status).toBe(200);
    expect(response.text).toBe('{"status":"ok"}');
    expect(response.headers.get("cache-control")).toBe("no-store");
  });
});

describe("unknown routes and methods", () => {
  it("answer 404 in the family's shape, before any credential is looked at", async () => {
    const cases: [string, string, unknown][] = [
      [
        "GET",
        "/api/sessions/abc/def",
        {
          success: false,
          message: "Not found",
          error: { code: "NOT_FOUND", details: "No route for GET /api/sessions/abc/def" },
          timestamp: expect.any(String),
          requestId: expect.any(String),
        },
      ],
      ["GET", "/sessions/abc/def", { detail: "No route for GET /sessions/abc/def", code: "NOT_FOUND" }],
      ["POST", "/sessions/user/", { detail: "No route for POST /sessions/user/", code: "NOT_FOUND" }],
      ["GET", "/nope", { detail: "No route for /nope", code: "NOT_FOUND" }],
      ["GET", "/", { detail: "No route for /", code: "NOT_FOUND" }],
    ];
    for (const [method, path, body] of cases) {
      for (const token of [undefined, "garbage"]) {
        const response = await call(path, { method, ...(token && { token }) });
        expect(response.status, `${method} ${path}`).toBe(404);
        expect(response.body).toEqual(body);
      }
    }
  });

  it("answer 405 with Allow for a known path, before any credential is looked at", async () => {
    const cases: [string, string, string][] = [
      ["PUT", "/api/sessions", "GET, DELETE"],
      ["POST", "/api/sessions", "GET, DELETE"],
      ["GET", "/api/sessions/abc", "DELETE"],
      ["PATCH", "/api/sessions/abc", "DELETE"],
      ["POST", "/api/sessions/abc/deactivate", "PATCH"],
      ["DELETE", "/sessions", "POST, GET"],
      ["PATCH", "/sessions/abc", "GET, DELETE"],
      ["PATCH", "/sessions/user/u1", "POST, GET, DELETE"],
      ["POST", "/api/sessions/current", "GET, DELETE"],
      ["POST", "/sessions/user/u1/last", "GET"],
      ["POST", "/health", "GET"],
      ["OPTIONS", "/sessions", "POST, GET"],
      ["POST", "/sessions/", "GET"],
      ["DELETE", "/sessions/", "GET"],
    ];
    for (const [method, path, allow] of cases) {
      const response = await call(path, { method });
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get("allow"), `${method} ${path}`).toBe(allow);
      const details = `Allowed methods: ${allow}`;
      expect(response.body).toEqual(
        path.startsWith("/api/")
          ? {
              success: false,
              message: "Method not allowed",
              error: { code: "METHOD_NOT_ALLOWED", details },
              timestamp: expect.any(String),
              requestId: expect.any(String),
            }
          : { detail: details, code: "METHOD_NOT_ALLOWED" },
      );
    }
  });
});

describe("order of checks: route, then auth, then size, then content type, then input, then the store", () => {
  it("answers 401/403 before 413 and 400", async () => {
    const u = user("order");
    const userAuth = await userToken(u);
    for (const [method, path] of [
      ["POST", "/sessions"],
      ["POST", `/sessions/user/${u}`],
    ] as const) {
      const anonymous = await call(path, {
        method,
        rawBody: oversized,
        headers: { "content-type": "text/plain" },
      });
      expect(anonymous.status, path).toBe(401);
      const forbidden = await call(path, { method, token: userAuth, rawBody: "{bad" });
      expect(forbidden.status, path).toBe(403);
    }
    for (const path of ["/sessions/bad!id", "/sessions?limit=0", `/sessions/user/${"u".repeat(300)}`]) {
      expect((await call(path)).status, path).toBe(401);
      expect((await call(path, { token: userAuth })).status, path).toBe(403);
    }
    for (const [method, path] of [
      ["DELETE", "/api/sessions/bad!id"],
      ["PATCH", "/api/sessions/bad!id/deactivate"],
    ] as const) {
      expect((await call(path, { method })).status, path).toBe(401);
    }
    expect(await adminListOf(u)).toEqual([]);
  });

  it("answers 413 before 415 and 400, and 415 before 400", async () => {
    const token = await admin$();
    const u = user("order-size");
    const tooLarge = await call("/sessions", {
      method: "POST",
      token,
      rawBody: `{bad ${oversized}`,
      headers: { "content-type": "text/plain" },
    });
    expect(tooLarge.status).toBe(413);
    // Oversized and malformed JSON, declared as JSON: parsing it first would answer 400.
    for (const path of ["/sessions", `/sessions/user/${u}`]) {
      const malformed = await call(path, {
        method: "POST",
        token,
        rawBody: `{"userId": "${u}", "pad": "${"p".repeat(20_000)}"`,
        headers: { "content-type": "application/json" },
      });
      expect(malformed.status, path).toBe(413);
      expect(malformed.body).toEqual({
        detail: "Request body must be at most 16384 bytes",
        code: "PAYLOAD_TOO_LARGE",
      });
    }
    const pathTooLong = await call(`/sessions/user/${"u".repeat(300)}`, {
      method: "POST",
      token,
      rawBody: oversized,
      headers: { "content-type": "application/json" },
    });
    expect(pathTooLong.status).toBe(413);
    const wrongType = await call(`/sessions/user/${"u".repeat(300)}`, {
      method: "POST",
      token,
      rawBody: "{bad",
      headers: { "content-type": "text/plain" },
    });
    expect(wrongType.status).toBe(415);
    expect(await adminListOf(u)).toEqual([]);
  });

  it("answers 413 to an oversized body on routes that take none, in the family's shape, changing nothing", async () => {
    const u = user("order-bodyless");
    const session = await createFor(u);
    const userAuth = await userToken(u);
    const admin = await admin$();
    const payloadTooLarge = { detail: "Request body must be at most 16384 bytes", code: "PAYLOAD_TOO_LARGE" };
    for (const [method, path, token] of [
      ["DELETE", `/sessions/${session.id}`, admin],
      ["DELETE", "/api/sessions", userAuth],
      ["DELETE", `/api/sessions/${session.id}`, userAuth],
      ["PATCH", `/api/sessions/${session.id}/deactivate`, userAuth],
    ] as const) {
      const response = await call(path, {
        method,
        token,
        rawBody: oversized,
        headers: { "content-type": "application/json" },
      });
      expect(response.status, `${method} ${path}`).toBe(413);
      expect(response.body).toEqual(
        path.startsWith("/api/")
          ? {
              success: false,
              message: "Payload too large",
              error: { code: "PAYLOAD_TOO_LARGE", details: "Request body must be at most 16384 bytes" },
              timestamp: expect.any(String),
              requestId: expect.any(String),
            }
          : payloadTooLarge,
      );
    }
    const [after] = await adminListOf(u);
    expect(after).toMatchObject({ id: session.id, is_active: true });
    // A small body on a route that takes none is ignored.
    const small = await call(`/api/sessions/${session.id}/deactivate`, {
      method: "PATCH",
      token: userAuth,
      rawBody: "not json",
      headers: { "content-type": "text/plain" },
    });
    expect(small.status).toBe(200);
  });

  it("answers 400 for a malformed id before looking it up", async () => {
    const token = await admin$();
    const response = await call(`/sessions/${"x".repeat(129)}`, { token });
    expect(response.status).toBe(400);
  });
});

describe("request ids", () => {
  it("are on every response, distinct per request, and equal to the envelope's requestId", async () => {
    const u = user("rid");
    const session = await createFor(u);
    const userAuth = await userToken(u);
    const admin = await admin$();
    const responses = [
      await call("/health"),
      await call("/nope"),
      await call("/api/sessions", { method: "PUT" }),
      await call("/api/sessions"),
      await call("/api/sessions", { token: userAuth }),
      await call(`/api/sessions/${session.id}x/deactivate`, { method: "PATCH", token: userAuth }),
      await call("/api/sessions/bad!id", { method: "DELETE", token: userAuth }),
      await call(`/sessions/${session.id}`, { token: admin }),
      await call("/sessions/missing", { token: admin }),
      await call("/sessions", { token: userAuth }),
      await call("/sessions/", { token: admin }),
      await call(`/api/sessions/${session.id}/deactivate`, { method: "PATCH", token: userAuth }),
      await call("/api/sessions", { method: "DELETE", token: userAuth }),
    ];
    const ids = responses.map((response) => response.headers.get("x-request-id"));
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const envelopes = responses.filter((response) => response.body && "success" in response.body);
    expect(envelopes).toHaveLength(7);
    for (const response of envelopes) {
      expect(response.body.requestId).toBe(response.headers.get("x-request-id"));
    }
  });

  it("ignore an incoming x-request-id", async () => {
    const response = await call("/api/sessions", { headers: { "x-request-id": "chosen-by-client" } });
    expect(response.status).toBe(401);
    expect(response.headers.get("x-request-id")).not.toBe("chosen-by-client");
    expect(response.body.requestId).toBe(response.headers.get("x-request-id"));
  });

  it("name the log line of their request", async () => {
    const response = await call("/health");
    const id = response.headers.get("x-request-id") as string;
    // The runner writes its log as requests end: wait for the line, however busy the machine is.
    const line = await logLineOf(id);
    expect(JSON.parse(line)).toMatchObject({ requestId: id, routeId: "Health", status: 200 });
  });
});

describe("x-content-type-options: nosniff", () => {
  // Every answer that goes through tests/support/openapi.ts is checked for it; these are the ones the
  // handlers never see: the runner's own 413 past API Gateway's 10 MB payload limit.
  it("is on the answers the runner gives itself", async () => {
    const response = await api("/sessions", {
      method: "POST",
      token: await admin$(),
      rawBody: `{"pad": "${"p".repeat(10 * 1024 * 1024)}"}`,
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(413);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("is on 404, 405 and 401 answers of both families", async () => {
    for (const [method, path] of [
      ["GET", "/nope"],
      ["GET", "/api/sessions/a/b"],
      ["PUT", "/sessions"],
      ["PUT", "/api/sessions"],
      ["GET", "/api/sessions"],
      ["GET", "/sessions"],
    ]) {
      const response = await api(path as string, { method });
      expect(response.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(response.headers.get("x-content-type-options"), `${method} ${path}`).toBe("nosniff");
    }
  });
});

/** The runner's log line naming `requestId`, waited for with a generous deadline. */
async function logLineOf(requestId: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const line = readFileSync(inject("logFile"), "utf8")
      .split("\n")
      .find((l) => l.includes(requestId));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no log line for request ${requestId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("every route", () => {
  it("answers through openapi.yaml with a success status for a valid request", async () => {
    const u = user("every");
    const admin = await admin$();
    const userAuth = await userToken(u);
    const a = await createFor(u);
    const b = await createFor(u);
    const c = await createFor(u);
    const statuses: Record<string, number> = {};
    for (const route of routes) {
      if (route.path === "$default") continue;
      const path = route.path
        .replace("{id}", route.method === "PATCH" ? a.id : route.id === "UserDeleteSession" ? b.id : a.id)
        .replace("{user_id}", u)
        .replace("{asset}", "init.js");
      if (["AdminDeleteSession", "UserDeleteAllSessions", "AdminDeleteUserSessions"].includes(route.id))
        continue;
      // The current session needs a credential that has one.
      const userCredential = route.id === "UserCurrentSession" ? c.access_token : userAuth;
      const token = route.family === "admin" ? admin : route.family === "user" ? userCredential : undefined;
      const body = route.id === "AdminIntrospect" ? { token: userAuth } : { userId: u };
      const response = await call(path, {
        method: route.method,
        ...(token && { token }),
        ...(route.method === "POST" && { body }),
      });
      statuses[route.id] = response.status;
    }
    const deleted = await call(`/sessions/${a.id}`, { method: "DELETE", token: admin });
    statuses.AdminDeleteSession = deleted.status;
    const all = await call("/api/sessions", { method: "DELETE", token: userAuth });
    statuses.UserDeleteAllSessions = all.status;
    const ofUser = await call(`/sessions/user/${u}`, { method: "DELETE", token: admin });
    statuses.AdminDeleteUserSessions = ofUser.status;
    const slash = await call("/sessions/", { token: admin });
    statuses.Fallback = slash.status;
    expect(statuses).toEqual(Object.fromEntries(routes.map((route) => [route.id, successStatus(route.id)])));
    expect(await adminListOf(u)).toEqual([]);
  });
});
