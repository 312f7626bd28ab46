import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import { type ApiResponse, adminToken, api, signToken, uniqueUser, userToken } from "../support/api.ts";
import { sleep } from "./local-stack.ts";

// The runner's whole output (every log line written by the shared test runner so far, this test's own
// traffic included) must hold no credential: no token, no part of a JWT, no secret, no token digest,
// no Authorization header.

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

describe("secrets stay out of the logs", () => {
  it("exercises every route with every kind of credential, then finds none of them in the log", async () => {
    const secrets: string[] = [inject("jwtSecret")];
    const requestIds: string[] = [];
    const track = async (reply: Promise<ApiResponse>) => {
      const r = await reply;
      const id = r.headers.get("x-request-id");
      if (id) requestIds.push(id);
      return r;
    };
    const admin = await adminToken();
    const user = uniqueUser("secrets");
    const token = await userToken(user);
    const opaque = `opaque-secret-${crypto.randomUUID()}`;
    const wrongSecret = "a-wrong-secret-that-must-not-be-logged-0123456789";
    const forged = await signToken({ sub: user }, { secret: wrongSecret });
    secrets.push(admin, token, opaque, sha256(opaque), forged, wrongSecret);

    const created = await track(
      api("/sessions", {
        method: "POST",
        token: admin,
        body: { user_id: user, token: opaque, user: { email: "s@e.test" } },
      }),
    );
    expect(created.status).toBe(201);
    const other = await track(api(`/sessions/user/${user}`, { method: "POST", token: admin }));
    expect(other.status).toBe(201);
    secrets.push(created.body.access_token, other.body.access_token, other.body.token);
    const conflict = await track(
      api("/sessions", { method: "POST", token: admin, body: { user_id: user, token: opaque } }),
    );
    expect(conflict.status).toBe(409);

    const calls: [string, string, string | undefined][] = [
      ["GET", "/sessions", admin],
      ["GET", "/sessions/", admin],
      ["GET", `/sessions/${created.body.id}`, admin],
      ["GET", `/sessions/user/${user}`, admin],
      ["GET", `/sessions/user/${user}/last`, admin],
      ["GET", "/api/sessions", token],
      ["GET", "/api/sessions", opaque],
      ["GET", "/api/sessions", created.body.access_token],
      ["PATCH", `/api/sessions/${other.body.id}/deactivate`, opaque],
      ["GET", "/api/sessions", other.body.access_token],
      ["GET", "/sessions", opaque],
      ["GET", "/api/sessions", forged],
      ["GET", "/sessions", forged],
      ["GET", "/api/sessions", `${opaque}x`],
      ["GET", "/health", token],
      ["GET", "/nowhere", token],
      ["DELETE", `/api/sessions/${created.body.id}`, created.body.access_token],
      ["GET", "/api/sessions", opaque],
      ["DELETE", `/sessions/${other.body.id}`, admin],
      ["DELETE", "/api/sessions", token],
    ];
    const statuses: number[] = [];
    for (const [method, path, credential] of calls) {
      statuses.push((await track(api(path, { method, ...(credential && { token: credential }) }))).status);
    }
    expect(statuses).toEqual([
      200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 401, 401, 401, 200, 404, 200, 401, 200, 200,
    ]);
    const basic = await track(
      api("/api/sessions", { headers: { authorization: `Basic ${btoa(`${user}:${opaque}`)}` } }),
    );
    expect(basic.status).toBe(401);
    secrets.push(btoa(`${user}:${opaque}`));

    // The runner writes its log asynchronously: wait until every request of this test is in it.
    const logFile = inject("logFile");
    let log = readFileSync(logFile, "utf8");
    const deadline = Date.now() + 15_000;
    while (!requestIds.every((id) => log.includes(id)) && Date.now() < deadline) {
      await sleep(50);
      log = readFileSync(logFile, "utf8");
    }
    for (const id of requestIds) expect(log, `request ${id} was not logged`).toContain(id);

    for (const secret of secrets) {
      expect(log.includes(secret), `a credential of ${secret.length} characters is in the log`).toBe(false);
      for (const part of secret.split(".").filter((p) => p.length >= 16)) {
        expect(log.includes(part), "a part of a JWT is in the log").toBe(false);
      }
    }
    expect(log).not.toMatch(/authorization/i);
    expect(log).not.toMatch(/bearer/i);
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  });
});
