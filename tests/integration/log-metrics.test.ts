import { readFileSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import { type AuthFailureReason, authFailure, requestCounts } from "../../lib/log-metrics.ts";
import { type ApiResponse, signToken, userToken } from "../support/api.ts";
import { call } from "../support/openapi.ts";
import { admin$, createFor, newOpaqueToken } from "../support/sessions.ts";

// The metric filters of lib/monitoring.ts count fields of each request's log line. These tests read
// the runner's log for the line of each request and check the fields the filters match on.

/** The JSON log line of a response's request; the runner writes it as the request ends. */
async function lineOf(response: ApiResponse): Promise<Record<string, unknown>> {
  const id = response.headers.get("x-request-id");
  expect(id).toBeTruthy();
  for (let attempt = 0; attempt < 50; attempt++) {
    const line = readFileSync(inject("logFile"), "utf8")
      .split("\n")
      .find((l) => l.includes(`"requestId":"${id}"`) && l.includes('"message":"request"'));
    if (line) return JSON.parse(line) as Record<string, unknown>;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no log line for request ${id}`);
}

const counted = (line: Record<string, unknown>) =>
  Object.fromEntries(Object.keys(requestCounts).flatMap((k) => (k in line ? [[k, line[k]]] : [])));

const user = (label: string) => `metrics-${label}-${process.pid}-${Date.now().toString(36)}`;

describe("the request log line", () => {
  it("carries the Lambda context: function request id and cold start", async () => {
    const line = await lineOf(await call("/health"));
    expect(line.function_request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(line.function_request_id).not.toBe(line.requestId);
    expect(typeof line.cold_start).toBe("boolean");
  });

  it("counts a created session on both create routes", async () => {
    const u = user("create");
    const admin = await admin$();
    const first = await call(`/sessions/user/${u}`, { method: "POST", token: admin });
    const second = await call("/sessions", { method: "POST", token: admin, body: { userId: u } });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(counted(await lineOf(first))).toEqual({ sessionsCreated: 1 });
    expect(counted(await lineOf(second))).toEqual({ sessionsCreated: 1 });
    expect(first.body).not.toHaveProperty("counts");
  });

  it("counts a deactivation, a delete, an admin delete and every session a delete-all removed", async () => {
    const u = user("change");
    const token = await userToken(u);
    const [a, b, c] = [await createFor(u), await createFor(u), await createFor(u)];
    await createFor(u);
    await createFor(u);
    const deactivated = await call(`/api/sessions/${a.id}/deactivate`, { method: "PATCH", token });
    const deleted = await call(`/api/sessions/${b.id}`, { method: "DELETE", token });
    const adminDeleted = await call(`/sessions/${c.id}`, { method: "DELETE", token: await admin$() });
    const all = await call("/api/sessions", { method: "DELETE", token });
    expect([deactivated.status, deleted.status, adminDeleted.status, all.status]).toEqual([
      200, 200, 200, 200,
    ]);
    expect(counted(await lineOf(deactivated))).toEqual({ sessionsDeactivated: 1 });
    expect(counted(await lineOf(deleted))).toEqual({ sessionsDeleted: 1 });
    expect(counted(await lineOf(adminDeleted))).toEqual({ sessionsDeleted: 1 });
    // The deactivated session and the last two remain for delete-all.
    expect(counted(await lineOf(all))).toEqual({ sessionsDeleted: 3 });
  });

  it("counts nothing for a read or a refused change", async () => {
    const u = user("nothing");
    const token = await userToken(u);
    const list = await call("/api/sessions", { token });
    const missing = await call("/api/sessions/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", { method: "DELETE", token });
    expect([list.status, missing.status]).toEqual([200, 404]);
    for (const response of [list, missing]) {
      const line = await lineOf(response);
      expect(counted(line)).toEqual({});
      expect(line).not.toHaveProperty(authFailure.field);
    }
  });

  it("names why a credential was refused, on every 401 and 403", async () => {
    const u = user("refused");
    const session = await createFor(u);
    const opaque = newOpaqueToken();
    const withOpaque = await createFor(u, { token: opaque });
    const deactivatedOpaque = newOpaqueToken();
    const deactivated = await createFor(u, { token: deactivatedOpaque });
    await call(`/api/sessions/${session.id}`, { method: "DELETE", token: session.access_token });
    await call(`/api/sessions/${deactivated.id}/deactivate`, { method: "PATCH", token: deactivatedOpaque });
    expect((await call("/api/sessions", { token: opaque })).status).toBe(200);
    expect(withOpaque.user_id).toBe(u);
    const cases: [AuthFailureReason, Promise<ApiResponse>][] = [
      ["missing", call("/api/sessions")],
      ["invalid", call("/api/sessions", { token: await signToken({ sub: u }, { secret: "x".repeat(48) }) })],
      ["invalid", call("/sessions", { token: opaque })],
      ["invalid", call("/api/sessions", { token: newOpaqueToken() })],
      ["session_ended", call("/api/sessions", { token: session.access_token })],
      ["session_ended", call("/api/sessions", { token: deactivatedOpaque })],
      ["missing_scope", call("/sessions", { token: await userToken(u) })],
    ];
    for (const [reason, pending] of cases) {
      const response = await pending;
      expect(response.status, reason).toBe(reason === "missing_scope" ? 403 : 401);
      expect((await lineOf(response))[authFailure.field], reason).toBe(reason);
    }
  });
});
