import { describe, expect, it } from "vitest";
import { adminToken, api, uniqueUser } from "../support/api.ts";

describe("local runner", () => {
  it("answers /health and creates a session readable by id", async () => {
    const health = await api("/health");
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: "ok" });
    expect(health.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);

    const admin = await adminToken();
    const userId = uniqueUser();
    const created = await api(`/sessions/user/${userId}`, { method: "POST", token: admin });
    expect(created.status).toBe(201);
    const read = await api(`/sessions/${created.body.id}`, { token: admin });
    expect(read.status).toBe(200);
    expect(read.body.user_id).toBe(userId);
  });
});
