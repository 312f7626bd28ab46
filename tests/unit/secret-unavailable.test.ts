import { createServer, type Server } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { adminToken, httpEvent, invoke } from "../fixtures/events.ts";

// On AWS the HS256 key comes from Secrets Manager at cold start. When Secrets Manager is down,
// requests must answer 503 (a dependency outage), not 401 (as if every token were forged) and not
// 500. When it refuses (AccessDenied: the role, the secret or its KMS key is misconfigured), no retry
// will help: that is a bug of the deployment, a 500. Both are logged with their cause.

let server: Server;
let reply = { status: 503, type: "InternalServiceError" };

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(reply.status, { "content-type": "application/x-amz-json-1.1" });
    res.end(JSON.stringify({ __type: reply.type, message: "no" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});
afterEach(() => {
  reply = { status: 503, type: "InternalServiceError" };
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});
afterAll(() => {
  server.close();
});

/** Fresh handlers (a cold start) reading the key from the stub, and the logger they write to. */
async function handlers() {
  vi.resetModules();
  vi.stubEnv("JWT_SECRET", "");
  vi.stubEnv("JWT_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf");
  vi.stubEnv(
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    `http://127.0.0.1:${(server.address() as { port: number }).port}`,
  );
  const { logger } = await import("../../functions/shared/logger.ts");
  return {
    listMine: (await import("../../functions/user-list-sessions.ts")).handler,
    getSession: (await import("../../functions/admin-get-session.ts")).handler,
    warn: vi.spyOn(logger, "warn"),
    error: vi.spyOn(logger, "error"),
  };
}

/** The error a log call was given, as the logger would print it (its cause chain included). */
const loggedError = (spy: { mock: { calls: unknown[][] } }) =>
  JSON.stringify(spy.mock.calls.map((args) => String((args[1] as { error?: Error })?.error?.cause)));

describe("signing key unavailable", () => {
  it("answers 503 with Retry-After on both families, and logs the cause", async () => {
    const token = await adminToken(); // signed with the unit secret before the environment changes
    const { listMine, getSession, warn, error } = await handlers();

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
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[0]?.[0]).toBe("service unavailable");
    expect(loggedError(warn)).toContain('503 {\\"__type\\":\\"InternalServiceError\\"');
    expect(error).not.toHaveBeenCalled();
  });

  it("answers 500 (a configuration bug, not an outage) when Secrets Manager refuses, and logs why", async () => {
    reply = { status: 400, type: "AccessDeniedException" };
    const token = await adminToken();
    const { listMine, getSession, warn, error } = await handlers();

    const user = await invoke(listMine, httpEvent("GET", "/api/sessions", { token }));
    expect(user.statusCode).toBe(500);
    expect(user.headers["retry-after"]).toBeUndefined();
    expect(user.body.error).toEqual({ code: "INTERNAL_ERROR", details: "An unexpected error occurred" });
    const admin = await invoke(getSession, httpEvent("GET", "/sessions/abc", { token }));
    expect(admin.statusCode).toBe(500);
    expect(admin.body).toEqual({ detail: "An unexpected error occurred", code: "INTERNAL_ERROR" });
    expect(JSON.stringify(admin.body)).not.toContain("AccessDenied");

    expect(error).toHaveBeenCalledTimes(2);
    expect(loggedError(error)).toContain("AccessDeniedException");
    expect(loggedError(error)).toContain("a configuration error");
    expect(warn).not.toHaveBeenCalled();
  });

  it("still answers 401 when there is no credential at all", async () => {
    const { listMine } = await handlers();
    const response = await invoke(listMine, httpEvent("GET", "/api/sessions"));
    expect(response.statusCode).toBe(401);
  });
});
