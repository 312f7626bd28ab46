import {
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { decodeJwt } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { handler as createSession } from "../../functions/admin-create-session.ts";
import { handler as createUserSession } from "../../functions/admin-create-user-session.ts";
import { handler as getSession } from "../../functions/admin-get-session.ts";
import { handler as fallback } from "../../functions/fallback.ts";
import { handler as health } from "../../functions/health.ts";
import { handler as deactivate } from "../../functions/user-deactivate-session.ts";
import { handler as deleteOwn } from "../../functions/user-delete-session.ts";
import { handler as listMine } from "../../functions/user-list-sessions.ts";
import { adminToken, httpEvent, invoke, token } from "../fixtures/events.ts";

const ddb = mockClient(DynamoDBDocumentClient);
afterEach(() => ddb.reset());

const future = () => new Date(Date.now() + 3_600_000).toISOString();
const meta = { $metadata: {} };

describe("user family", () => {
  it("answers seed 2's 404 envelope when the conditional delete fails, with the request id", async () => {
    ddb
      .on(GetCommand)
      .resolves({ Item: { id: "abc", userId: "mallory", expiresAt: future(), tokenDigest: "ab" } });
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: "cancelled",
        ...meta,
        CancellationReasons: [{ Code: "ConditionalCheckFailed" }, { Code: "None" }],
      }),
    );
    const event = httpEvent("DELETE", "/api/sessions/abc", { token: await token("alice") });
    const response = await invoke(deleteOwn, event);

    expect(response.statusCode).toBe(404);
    expect(response.body).toEqual({
      success: false,
      message: "Session not found or unauthorized",
      error: {
        code: "SESSION_NOT_FOUND",
        details: "The requested session does not exist or you don't have permission to delete it",
      },
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      requestId: event.requestContext.requestId,
    });
    expect(response.headers["x-request-id"]).toBe(event.requestContext.requestId);
    const [ending] = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(ending?.Update?.ConditionExpression).toContain("#userId = :owner");
    expect(ending?.Update?.ExpressionAttributeValues?.[":owner"]).toBe("alice");
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it("deactivates only through the owner-conditioned update", async () => {
    ddb.on(UpdateCommand).resolves({});
    const response = await invoke(
      deactivate,
      httpEvent("PATCH", "/api/sessions/abc/deactivate", { token: await token("bob") }),
    );
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({ success: true, message: "Session deactivated successfully" });
    expect(response.body.data).toBeUndefined();
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeValues?.[":owner"]).toBe(
      "bob",
    );
  });

  it("lists the caller's page of active sessions, without digest or profile", async () => {
    ddb.on(QueryCommand).resolves({
      Items: [
        {
          id: "s1",
          userId: "carol",
          createdAt: "2030-01-01T00:00:00.000Z",
          updatedAt: "2030-01-01T00:00:00.000Z",
          expiresAt: future(),
          isActive: true,
          tokenDigest: "secret-digest",
          profile: '{"email":"c@example.test"}',
        },
      ],
    });
    const response = await invoke(
      listMine,
      httpEvent("GET", "/api/sessions", { token: await token("carol") }),
    );

    expect(response.statusCode).toBe(200);
    expect(response.body.data).toEqual([
      {
        id: "s1",
        user_id: "carol",
        ip_address: null,
        user_agent: null,
        created_at: "2030-01-01T00:00:00.000Z",
        updated_at: "2030-01-01T00:00:00.000Z",
        expires_at: expect.any(String),
        last_active_at: "2030-01-01T00:00:00.000Z",
        idle_expires_at: null,
        is_current: false,
        is_active: true,
        deactivated_at: null,
      },
    ]);
    const input = ddb.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(input?.ExpressionAttributeValues?.[":pk"]).toBe("carol");
    expect(input?.FilterExpression).toContain("(#isActive = :true)");
    // At most 100 sessions per answer, and one more read to know whether a next page exists.
    expect(input?.Limit).toBe(101);
    expect(response.headers.link).toBeUndefined();
  });

  it("refuses a missing token before touching the store", async () => {
    const response = await invoke(listMine, httpEvent("GET", "/api/sessions"));
    expect(response.statusCode).toBe(401);
    expect(response.body.error).toEqual({
      code: "UNAUTHORIZED",
      details: "Invalid or missing authentication token",
    });
    expect(response.headers["www-authenticate"]).toBe('Bearer error="invalid_token"');
    expect(ddb.calls()).toHaveLength(0);
  });

  it("refuses a sid-bound token once its session is gone", async () => {
    ddb.on(GetCommand).resolves({});
    const response = await invoke(
      listMine,
      httpEvent("GET", "/api/sessions", { token: await token("dave", { sid: "gone" }) }),
    );
    expect(response.statusCode).toBe(401);
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({
      Key: { id: "gone" },
      ConsistentRead: true,
    });
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(0);
  });
});

describe("admin family", () => {
  it("creates a session whose access token is bound to it and expires with it", async () => {
    ddb.on(PutCommand).resolves({});
    const expiresAt = new Date(Date.now() + 7_200_000).toISOString();
    const response = await invoke(
      createSession,
      httpEvent("POST", "/sessions", {
        token: await adminToken(),
        body: { userId: 42, expiresAt, ip_address: "2001:db8::1", user_agent: "curl/8" },
      }),
    );

    expect(response.statusCode).toBe(201);
    expect(response.body).toMatchObject({
      user_id: "42",
      expires_at: expiresAt,
      ip_address: "2001:db8::1",
      is_active: true,
    });
    expect(response.body.token).toBe(response.body.access_token);
    const claims = decodeJwt(response.body.access_token);
    expect(claims).toMatchObject({
      sub: "42",
      sid: response.body.id,
      exp: Math.floor(Date.parse(expiresAt) / 1000),
    });
    expect(response.body.id).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it("returns a supplied token as given and stores only its digest", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const supplied = "my-client-token-0123456789";
    const response = await invoke(
      createSession,
      httpEvent("POST", "/sessions", {
        token: await adminToken(),
        body: { user_id: "erin", token: supplied },
      }),
    );
    expect(response.statusCode).toBe(201);
    expect(response.body.token).toBe(supplied);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
    expect(JSON.stringify(ddb.calls().map((c) => c.args[0].input))).not.toContain(supplied);
  });

  it("answers 401 before 413 and 413 before 400", async () => {
    // Oversized and malformed: a parser (or any input check) running before the size check answers 400.
    const big = `{"userId": "x", "pad": "${"a".repeat(17_000)}"`;
    const noAuth = await invoke(createSession, httpEvent("POST", "/sessions", { rawBody: big }));
    expect(noAuth.statusCode).toBe(401);
    const tooLarge = await invoke(
      createSession,
      httpEvent("POST", "/sessions", {
        token: await adminToken(),
        rawBody: big,
        headers: { "content-type": "application/json" },
      }),
    );
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.body).toEqual({
      detail: "Request body must be at most 16384 bytes",
      code: "PAYLOAD_TOO_LARGE",
    });
    expect(ddb.calls()).toHaveLength(0);
  });

  it.each([
    ["malformed JSON", "{", "request body must be valid JSON"],
    ["a JSON array", "[]", "request body must be a JSON object"],
    ["a missing user id", "{}", "userId (or user_id) is required"],
    ["a past expiry", '{"userId":"u","expiresAt":"2020-01-01T00:00:00Z"}', "expiresAt must be in the future"],
    ["a non-RFC 3339 expiry", '{"userId":"u","expires_at":"tomorrow"}', "expires_at must be an RFC 3339"],
    ["differing aliases", '{"userId":"a","user_id":"b"}', "userId and user_id are both given and differ"],
    ["an unsafe integer user id", '{"userId":9007199254740993}', "userId must be a string or a safe integer"],
    ["a bad IP", '{"userId":"u","ip_address":"999.1.1.1"}', "ip_address must be an IPv4 or IPv6 address"],
    ["a short token", '{"userId":"u","token":"short"}', "token must be 16-4096 characters"],
    ["a prototype key", '{"userId":"u","user":{"__proto__":{"x":1}}}', "request body must be valid JSON"],
  ])("rejects %s with a 400 naming the problem, writing nothing", async (_, rawBody, detail) => {
    const response = await invoke(
      createSession,
      httpEvent("POST", "/sessions", {
        token: await adminToken(),
        rawBody,
        headers: { "content-type": "application/json" },
      }),
    );
    expect(response.statusCode).toBe(400);
    expect(response.body.code).toBe("VALIDATION_ERROR");
    expect(response.body.detail).toContain(detail);
    expect(ddb.calls()).toHaveLength(0);
  });

  it("rejects a body that is not JSON with 415", async () => {
    const response = await invoke(
      createSession,
      httpEvent("POST", "/sessions", {
        token: await adminToken(),
        rawBody: "userId=1",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
    );
    expect(response.statusCode).toBe(415);
    expect(response.body.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it("creates for a path user with no body at all (seed 3's bare POST)", async () => {
    ddb.on(PutCommand).resolves({});
    const response = await invoke(
      createUserSession,
      httpEvent("POST", "/sessions/user/user123", { token: await adminToken() }),
    );
    expect(response.statusCode).toBe(201);
    expect(response.body.user_id).toBe("user123");
  });

  it("refuses a user token with 403 and no token with 401", async () => {
    const asUser = await invoke(
      getSession,
      httpEvent("GET", "/sessions/abc", { token: await token("frank") }),
    );
    expect(asUser.statusCode).toBe(403);
    expect(asUser.body).toEqual({
      detail: "This token does not carry the sessions:admin scope",
      code: "FORBIDDEN",
    });
    const anonymous = await invoke(getSession, httpEvent("GET", "/sessions/abc"));
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.body.code).toBe("UNAUTHORIZED");
  });

  it("answers 503 with Retry-After when the store is throttled", async () => {
    ddb.on(GetCommand).rejects(new ProvisionedThroughputExceededException({ message: "slow down", ...meta }));
    const response = await invoke(
      getSession,
      httpEvent("GET", "/sessions/abc", { token: await adminToken() }),
    );
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("1");
    expect(response.body).toEqual({
      detail: "The session store is unavailable; retry later",
      code: "SERVICE_UNAVAILABLE",
    });
  });

  it("turns an unexpected error into a 500 that reveals nothing", async () => {
    ddb
      .on(GetCommand)
      .rejects(Object.assign(new Error("Invalid KeyConditionExpression near secret"), { $fault: "client" }));
    const response = await invoke(
      getSession,
      httpEvent("GET", "/sessions/abc", { token: await adminToken() }),
    );
    expect(response.statusCode).toBe(500);
    expect(response.body).toEqual({ detail: "An unexpected error occurred", code: "INTERNAL_ERROR" });
  });

  it("answers seed 3's 404 detail for a missing id and 400 for an id outside the alphabet", async () => {
    ddb.on(GetCommand).resolves({});
    const missing = await invoke(
      getSession,
      httpEvent("GET", "/sessions/123", { token: await adminToken() }),
    );
    expect(missing.statusCode).toBe(404);
    expect(missing.body.detail).toBe("Session with id 123 not found");
    const bad = await invoke(getSession, httpEvent("GET", "/sessions/a%23b", { token: await adminToken() }));
    expect(bad.statusCode).toBe(400);
    expect(bad.body.detail).toContain("id must be 1-128 characters");
  });
});

describe("ops and fallback", () => {
  it("health needs no token", async () => {
    const response = await invoke(health, httpEvent("GET", "/health"));
    expect(response).toMatchObject({ statusCode: 200, body: { status: "ok" } });
  });

  it("serves GET /sessions/ as the list of all sessions", async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });
    const response = await invoke(
      fallback as never,
      httpEvent("GET", "/sessions/", { token: await adminToken() }),
    );
    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual([]);
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input.IndexName).toBe("byCreated");
  });

  it("answers 405 with Allow for a known path and 404 in the family's shape otherwise", async () => {
    const wrongMethod = await invoke(fallback as never, httpEvent("PUT", "/api/sessions"));
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toBe("GET, DELETE");
    expect(wrongMethod.body).toMatchObject({ success: false, error: { code: "METHOD_NOT_ALLOWED" } });

    const unknown = await invoke(fallback as never, httpEvent("GET", "/sessions/a/b/c"));
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toEqual({ detail: "No route for GET /sessions/a/b/c", code: "NOT_FOUND" });
  });
});
