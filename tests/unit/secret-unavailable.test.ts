import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { adminToken, httpEvent, invoke } from "../fixtures/events.ts";

// On AWS the HS256 key comes from Secrets Manager at cold start. When that call fails, requests must
// answer 503 (a dependency outage), not 401 (as if every token were forged) and not 500.

let server: Server;
const status = 503;

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
    res.end(JSON.stringify({ __type: "InternalServiceError", message: "down" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});
afterAll(() => {
  vi.unstubAllEnvs();
  server.close();
});

async function handlers() {
  vi.resetModules();
  vi.stubEnv("JWT_SECRET", "");
  vi.stubEnv("JWT_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf");
  vi.stubEnv(
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    `http://127.0.0.1:${(server.address() as { port: number }).port}`,
  );
  return {
    listMine: (await import("../../functions/user-list-sessions.ts")).handler,
    getSession: (await import("../../functions/admin-get-session.ts")).handler,
  };
}

describe("signing key unavailable", () => {
  it("answers 503 with Retry-After on both families", async () => {
    const token = await adminToken(); // signed with the unit secret before the environment changes
    const { listMine, getSession } = await handlers();

    const user = await invoke(listMine, httpEvent("GET", "/api/sessions", { token }));
    expect(user.statusCode).toBe(503);
    expect(user.headers["retry-after"]).toBe("1");
    expect(user.body.error.code).toBe("SERVICE_UNAVAILABLE");

    const admin = await invoke(getSession, httpEvent("GET", "/sessions/abc", { token }));
    expect(admin.statusCode).toBe(503);
    expect(admin.body).toEqual({
      detail: "The session store is unavailable; retry later",
      code: "SERVICE_UNAVAILABLE",
    });
  });

  it("still answers 401 when there is no credential at all", async () => {
    const { listMine } = await handlers();
    const response = await invoke(listMine, httpEvent("GET", "/api/sessions"));
    expect(response.statusCode).toBe(401);
  });
});
