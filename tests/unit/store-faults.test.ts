import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, QueryCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { type AwsStub, mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { functionDefaults } from "../../lib/routes.ts";
import { adminToken, httpEvent, invoke, token } from "../fixtures/events.ts";

// A store that throttles, fails, resets or hangs answers 503 with Retry-After in the caller's family
// shape, never 500; the SDK retries within DYNAMODB_MAX_ATTEMPTS and the whole request stays inside
// the function's timeout.

const meta = { $metadata: {} };
const handlers = () =>
  Promise.all([
    import("../../functions/user-list-sessions.ts"),
    import("../../functions/admin-get-session.ts"),
    import("../../functions/user-deactivate-session.ts"),
    import("../../functions/user-delete-session.ts"),
    import("../../functions/admin-create-session.ts"),
    import("../../functions/user-delete-all-sessions.ts"),
  ]);

async function everyRoute() {
  const [list, get, deactivate, remove, create, removeAll] = await handlers();
  const user = await token("alice");
  const admin = await adminToken();
  return [
    ["user", () => invoke(list.handler, httpEvent("GET", "/api/sessions", { token: user }))],
    ["admin", () => invoke(get.handler, httpEvent("GET", "/sessions/abc", { token: admin }))],
    [
      "user",
      () => invoke(deactivate.handler, httpEvent("PATCH", "/api/sessions/abc/deactivate", { token: user })),
    ],
    ["user", () => invoke(remove.handler, httpEvent("DELETE", "/api/sessions/abc", { token: user }))],
    ["user", () => invoke(removeAll.handler, httpEvent("DELETE", "/api/sessions", { token: user }))],
    [
      "admin",
      () =>
        invoke(create.handler, httpEvent("POST", "/sessions", { token: admin, body: { user_id: "alice" } })),
    ],
    [
      "admin",
      () =>
        invoke(
          create.handler,
          httpEvent("POST", "/sessions", {
            token: admin,
            body: { user_id: "alice", token: "a-client-token-0123456789" },
          }),
        ),
    ],
  ] as const;
}

function expectUnavailable(
  family: "user" | "admin",
  response: { statusCode: number; headers: Record<string, string>; body: any },
) {
  expect(response.statusCode).toBe(503);
  expect(response.headers["retry-after"]).toMatch(/^[1-9]\d*$/);
  if (family === "user") {
    expect(response.body).toMatchObject({ success: false, error: { code: "SERVICE_UNAVAILABLE" } });
  } else {
    expect(response.body).toMatchObject({ detail: expect.any(String) });
  }
  expect(JSON.stringify(response.body)).not.toMatch(/Exception|ECONNRESET|Throttl|at .*\(/);
}

describe("store failures seen by the handlers (SDK mocked)", () => {
  let ddb: AwsStub<any, any, any>;
  beforeAll(() => {
    ddb = mockClient(DynamoDBDocumentClient);
  });
  afterEach(() => ddb.reset());
  afterAll(() => ddb.restore());

  const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8000"), { code: "ECONNREFUSED" });
  const timeout = Object.assign(new Error("Request timed out"), { name: "TimeoutError" });
  const throttled = Object.assign(new Error("Rate of requests exceeds the allowed throughput"), {
    name: "ThrottlingException",
    $fault: "client",
    $metadata: { httpStatusCode: 400 },
  });
  const failures: [string, Error][] = [
    ["ThrottlingException", throttled],
    [
      "ProvisionedThroughputExceededException",
      new ProvisionedThroughputExceededException({ message: "slow down", ...meta }),
    ],
    ["RequestLimitExceeded", new RequestLimitExceeded({ message: "account limit", ...meta })],
    ["InternalServerError (500)", new InternalServerError({ message: "internal", ...meta })],
    ["socket reset", reset],
    ["connection refused", refused],
    ["request timeout", timeout],
  ];

  it.each(failures)("%s: 503 with Retry-After on every route, never 500", async (_name, error) => {
    ddb.rejects(error);
    for (const [family, call] of await everyRoute()) expectUnavailable(family, await call());
  });

  it("a transaction cancelled by throttling is a 503, not a token conflict", async () => {
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: "cancelled",
        CancellationReasons: [{ Code: "None" }, { Code: "ThrottlingError" }],
        ...meta,
      }),
    );
    const [, , , , create] = await handlers();
    const response = await invoke(
      create.handler,
      httpEvent("POST", "/sessions", {
        token: await adminToken(),
        body: { user_id: "a", token: "a-client-token-0123456789" },
      }),
    );
    expectUnavailable("admin", response);
  });

  it("a non-transient error is a bug: a generic 500 that reveals nothing", async () => {
    ddb.on(QueryCommand).rejects(
      Object.assign(new Error("One or more parameter values were invalid: ExpressionAttributeValues"), {
        name: "ValidationException",
        $fault: "client",
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const [list] = await handlers();
    const response = await invoke(
      list.handler,
      httpEvent("GET", "/api/sessions", { token: await token("alice") }),
    );
    expect(response.statusCode).toBe(500);
    expect(response.body).toMatchObject({ success: false, error: { code: "INTERNAL_ERROR" } });
    expect(JSON.stringify(response.body)).not.toMatch(/Validation|ExpressionAttribute/);
  });
});

describe("SDK retries against a failing DynamoDB endpoint (real HTTP, default timeouts)", () => {
  type Mode = "throttle" | "500" | "reset" | "hang";
  let mode: Mode = "500";
  let requests = 0;
  let server: Server;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      req.resume();
      if (mode === "hang") return;
      if (mode === "reset") {
        req.socket.destroy();
        return;
      }
      const [status, type] =
        mode === "throttle"
          ? [400, "com.amazonaws.dynamodb.v20120810#ThrottlingException"]
          : [500, "com.amazonaws.dynamodb.v20120810#InternalServerError"];
      res
        .writeHead(status, { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "fake" })
        .end(JSON.stringify({ __type: type, message: "fault injected" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    process.env.DYNAMODB_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    delete process.env.DYNAMODB_REQUEST_TIMEOUT_MS;
    delete process.env.DYNAMODB_MAX_ATTEMPTS;
    vi.resetModules();
  });
  afterAll(async () => {
    delete process.env.DYNAMODB_ENDPOINT;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it.each<Mode>(["throttle", "500", "reset", "hang"])(
    "%s: 3 attempts (DYNAMODB_MAX_ATTEMPTS), then 503 inside the function timeout",
    async (m) => {
      mode = m;
      requests = 0;
      const { config } = await import("../../functions/shared/config.ts");
      expect(config.dbMaxAttempts).toBe(3);
      const [list] = await handlers();
      const started = performance.now();
      const response = await invoke(
        list.handler,
        httpEvent("GET", "/api/sessions", { token: await token("alice") }),
      );
      const elapsed = performance.now() - started;
      expectUnavailable("user", response);
      expect(requests).toBe(config.dbMaxAttempts);
      expect(elapsed).toBeLessThan(functionDefaults.timeoutSeconds * 1000 - 250);
    },
    20_000,
  );
});
