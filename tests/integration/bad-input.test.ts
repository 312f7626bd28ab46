import { describe, expect, it } from "vitest";
import { table, userToken } from "../support/api.ts";
import { call } from "../support/openapi.ts";
import {
  admin$,
  adminListOf,
  createFor,
  digest,
  fromNow,
  newOpaqueToken,
  testUsers,
} from "../support/sessions.ts";

// Issue item 6: every bad input is a 4xx whose message names the field, and changes nothing.

const user = testUsers();

const validation = (detail: string) => ({ detail, code: "VALIDATION_ERROR" });
const JSON_DETAIL = "request body must be valid JSON (and may not use __proto__ or constructor keys)";
const USER_ID_DETAIL = (field: string) => `${field} must be a string of 1-256 characters or a safe integer`;
const EXPIRY_DETAIL = (field: string) => `${field} must be an RFC 3339 date-time with Z or an offset`;
const TOKEN_DETAIL = "token must be 16-4096 characters of A-Z a-z 0-9 - . _ ~ + / with optional trailing =";
const ID_DETAIL = "id must be 1-128 characters of A-Z, a-z, 0-9, '-' and '_'";

describe("bad create bodies", () => {
  it("answer 400 naming the field, and create nothing", async () => {
    const token = await admin$();
    const u = user("bad-create");
    const reusable = newOpaqueToken();
    const cases: [string, unknown, string][] = [
      ["no user id", {}, "userId (or user_id) is required"],
      ["array body", [], "request body must be a JSON object"],
      ["string body", "user", "request body must be a JSON object"],
      ["null body", null, "request body must be a JSON object"],
      ["number body", 42, "request body must be a JSON object"],
      ["boolean userId", { userId: true }, USER_ID_DETAIL("userId")],
      ["null userId", { userId: null }, USER_ID_DETAIL("userId")],
      ["empty userId", { userId: "" }, USER_ID_DETAIL("userId")],
      ["long userId", { userId: "u".repeat(257) }, USER_ID_DETAIL("userId")],
      ["object user_id", { user_id: { id: u } }, USER_ID_DETAIL("user_id")],
      ["unsafe integer", { userId: 2 ** 53 }, "userId must be a string or a safe integer"],
      ["fraction", { userId: 1.5 }, "userId must be a string or a safe integer"],
      ["aliases differ", { userId: u, user_id: `${u}-x` }, "userId and user_id are both given and differ"],
      ["numeric expiry", { userId: u, expiresAt: 1893456000 }, EXPIRY_DETAIL("expiresAt")],
      ["word expiry", { userId: u, expiresAt: "tomorrow" }, EXPIRY_DETAIL("expiresAt")],
      ["no zone", { userId: u, expiresAt: "2030-01-01T00:00:00" }, EXPIRY_DETAIL("expiresAt")],
      ["date only", { userId: u, expires_at: "2030-01-01" }, EXPIRY_DETAIL("expires_at")],
      ["30 February", { userId: u, expiresAt: "2030-02-30T00:00:00Z" }, EXPIRY_DETAIL("expiresAt")],
      ["month 13", { userId: u, expiresAt: "2030-13-01T00:00:00Z" }, EXPIRY_DETAIL("expiresAt")],
      ["hour 24", { userId: u, expiresAt: "2030-01-01T24:00:00Z" }, EXPIRY_DETAIL("expiresAt")],
      ["bad offset", { userId: u, expiresAt: "2030-01-01T00:00:00+25:00" }, EXPIRY_DETAIL("expiresAt")],
      ["null expiry", { userId: u, expiresAt: null }, EXPIRY_DETAIL("expiresAt")],
      [
        "past expiry",
        { userId: u, expiresAt: "2024-12-31T23:59:59.000Z" },
        "expiresAt must be in the future",
      ],
      ["now-ish expiry", { userId: u, expires_at: fromNow(-1) }, "expires_at must be in the future"],
      [
        "too far",
        { userId: u, expiresAt: fromNow(2_592_000_000 + 60_000) },
        "expiresAt must be at most 2592000 seconds ahead",
      ],
      [
        "expiry aliases differ",
        { userId: u, expiresAt: fromNow(3_600_000), expires_at: fromNow(7_200_000) },
        "expiresAt and expires_at are both given and differ",
      ],
      ["short token", { userId: u, token: "abc" }, TOKEN_DETAIL],
      ["token with a space", { userId: u, token: "abcdefgh ijklmnopq" }, TOKEN_DETAIL],
      ["token with = inside", { userId: u, token: "abcdefgh=ijklmnopq" }, TOKEN_DETAIL],
      ["long token", { userId: u, token: "t".repeat(4097) }, TOKEN_DETAIL],
      ["numeric token", { userId: u, token: 1234567890123456 }, TOKEN_DETAIL],
      ["bad ip", { userId: u, ip_address: "999.1.1.1" }, "ip_address must be an IPv4 or IPv6 address"],
      [
        "host name ip",
        { userId: u, ip_address: "example.com" },
        "ip_address must be an IPv4 or IPv6 address",
      ],
      ["numeric ip", { userId: u, ip_address: 3232235777 }, "ip_address must be an IPv4 or IPv6 address"],
      [
        "long user agent",
        { userId: u, user_agent: "a".repeat(513) },
        "user_agent must be a string of at most 512 characters",
      ],
      [
        "numeric user agent",
        { userId: u, user_agent: 5 },
        "user_agent must be a string of at most 512 characters",
      ],
      ["string user", { userId: u, user: "ada" }, "user must be a JSON object"],
      ["array user", { userId: u, user: [] }, "user must be a JSON object"],
      [
        "large user",
        { userId: u, user: { bio: "b".repeat(1100) } },
        "user must be at most 1024 bytes of JSON",
      ],
      // A valid token in an otherwise bad request must not be registered.
      [
        "valid token, past expiry",
        { userId: u, token: reusable, expiresAt: "2020-01-01T00:00:00Z" },
        "expiresAt must be in the future",
      ],
    ];
    for (const [label, body, detail] of cases) {
      const response = await call("/sessions", {
        method: "POST",
        token,
        rawBody: JSON.stringify(body),
        headers: { "content-type": "application/json" },
      });
      expect(response.status, label).toBe(400);
      expect(response.body, label).toEqual(validation(detail));
    }
    expect(await adminListOf(u)).toEqual([]);
    expect(await adminListOf(`${u}-x`)).toEqual([]);
    expect(await table().get(`token#${digest(reusable)}`)).toBeUndefined();
    const later = await createFor(u, { token: reusable });
    expect(later.token).toBe(reusable);
  });

  it("answer 400 for malformed JSON and forbidden keys", async () => {
    const token = await admin$();
    const u = user("bad-json");
    for (const raw of [
      "{bad json",
      `{"userId": "${u}",}`,
      `{"userId": "${u}"`,
      "'single'",
      `{"userId": "${u}", "__proto__": {"isAdmin": true}}`,
      `{"userId": "${u}", "constructor": {"prototype": {}}}`,
    ]) {
      for (const path of ["/sessions", `/sessions/user/${u}`]) {
        const response = await call(path, {
          method: "POST",
          token,
          rawBody: raw,
          headers: { "content-type": "application/json" },
        });
        expect(response.status, `${path} ${raw}`).toBe(400);
        expect(response.body).toEqual(validation(JSON_DETAIL));
      }
    }
    expect(await adminListOf(u)).toEqual([]);
  });

  it("answer 400 on POST /sessions/user/{user_id} for a different body user id or a bad path id", async () => {
    const token = await admin$();
    const u = user("bad-path");
    const differs = await call(`/sessions/user/${u}`, {
      method: "POST",
      token,
      body: { user_id: `${u}-other` },
    });
    expect(differs.status).toBe(400);
    expect(differs.body).toEqual(validation("user_id in the body differs from the user_id in the path"));
    const alias = await call(`/sessions/user/${u}`, {
      method: "POST",
      token,
      body: { userId: `${u}-other` },
    });
    expect(alias.body).toEqual(validation("user_id in the body differs from the user_id in the path"));
    const long = await call(`/sessions/user/${"u".repeat(257)}`, { method: "POST", token });
    expect(long.status).toBe(400);
    expect(long.body).toEqual(validation(USER_ID_DETAIL("user_id")));
    const bad = await call(`/sessions/user/${u}`, { method: "POST", token, body: { expiresAt: "soon" } });
    expect(bad.body).toEqual(validation(EXPIRY_DETAIL("expiresAt")));
    expect(await adminListOf(u)).toEqual([]);
    expect(await adminListOf(`${u}-other`)).toEqual([]);
    // The same body user id as the path is fine, and 256 characters is the limit.
    expect((await call(`/sessions/user/${u}`, { method: "POST", token, body: { user_id: u } })).status).toBe(
      201,
    );
    const longest = `${u}-${"x".repeat(256 - u.length - 1)}`;
    user.track(longest);
    expect((await call(`/sessions/user/${longest}`, { method: "POST", token })).status).toBe(201);
  });
});

describe("body size and type", () => {
  it("answers 413 over 16 KiB and accepts exactly 16 KiB", async () => {
    const token = await admin$();
    const u = user("size");
    const sized = (bytes: number) => {
      const base = JSON.stringify({ userId: u, pad: "" });
      return JSON.stringify({ userId: u, pad: "p".repeat(bytes - base.length) });
    };
    expect(Buffer.byteLength(sized(16_385))).toBe(16_385);
    for (const path of ["/sessions", `/sessions/user/${u}`]) {
      const response = await call(path, {
        method: "POST",
        token,
        rawBody: sized(16_385),
        headers: { "content-type": "application/json" },
      });
      expect(response.status, path).toBe(413);
      expect(response.body).toEqual({
        detail: "Request body must be at most 16384 bytes",
        code: "PAYLOAD_TOO_LARGE",
      });
    }
    const huge = await call("/sessions", {
      method: "POST",
      token,
      rawBody: sized(200_000),
      headers: { "content-type": "application/json" },
    });
    expect(huge.status).toBe(413);
    expect(await adminListOf(u)).toEqual([]);
    const limit = await call("/sessions", {
      method: "POST",
      token,
      rawBody: sized(16_384),
      headers: { "content-type": "application/json" },
    });
    expect(limit.status).toBe(201);
  });

  it("answers 415 for a body that is not JSON, and accepts application/*+json", async () => {
    const token = await admin$();
    const u = user("type");
    for (const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "application/jsonx",
      "text/json",
    ]) {
      for (const path of ["/sessions", `/sessions/user/${u}`]) {
        const response = await call(path, {
          method: "POST",
          token,
          rawBody: JSON.stringify({ userId: u }),
          headers: { "content-type": type },
        });
        expect(response.status, `${path} ${type}`).toBe(415);
        expect(response.body).toEqual({
          detail: "Request body must be application/json",
          code: "UNSUPPORTED_MEDIA_TYPE",
        });
      }
    }
    expect(await adminListOf(u)).toEqual([]);
    for (const type of ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"]) {
      const response = await call("/sessions", {
        method: "POST",
        token,
        rawBody: JSON.stringify({ userId: u }),
        headers: { "content-type": type },
      });
      expect(response.status, type).toBe(201);
    }
  });
});

describe("bad ids in paths", () => {
  it("answer 400 naming id on every route that takes one, changing nothing", async () => {
    const admin = await admin$();
    const u = user("bad-id");
    const live = await createFor(u);
    const userAuth = await userToken(u);
    const badIds = ["i".repeat(129), "bad%21id", "a.b", "%20", "a%2Fb", "%C3%A9t%C3%A9", `${live.id}%00`];
    for (const id of badIds) {
      for (const [method, path, token] of [
        ["GET", `/sessions/${id}`, admin],
        ["DELETE", `/sessions/${id}`, admin],
        ["DELETE", `/api/sessions/${id}`, userAuth],
        ["PATCH", `/api/sessions/${id}/deactivate`, userAuth],
      ] as const) {
        const response = await call(path, { method, token });
        expect(response.status, `${method} ${path}`).toBe(400);
        expect(response.body.detail ?? response.body.error.details).toBe(ID_DETAIL);
        if (path.startsWith("/api/")) {
          expect(response.body).toMatchObject({
            success: false,
            message: "Validation failed",
            error: { code: "VALIDATION_ERROR", details: ID_DETAIL },
          });
        }
      }
    }
    // 128 characters of the alphabet are a well-formed id: absent, so 404.
    const longest = await call(`/sessions/${"i".repeat(128)}`, { token: admin });
    expect(longest.status).toBe(404);
    const [after] = await adminListOf(u);
    expect(after).toMatchObject({ id: live.id, is_active: true });
  });

  it("answer 400 for a user id over 256 characters on every user route", async () => {
    const admin = await admin$();
    const long = "u".repeat(257);
    for (const path of [`/sessions/user/${long}`, `/sessions/user/${long}/last`]) {
      const response = await call(path, { token: admin });
      expect(response.status, path).toBe(400);
      expect(response.body).toEqual(validation(USER_ID_DETAIL("user_id")));
    }
  });

  it("answer 404 for an empty id: no route has that path", async () => {
    const u = user("empty-id");
    await createFor(u);
    const userAuth = await userToken(u);
    const del = await call("/api/sessions/", { method: "DELETE", token: userAuth });
    expect(del.status).toBe(404);
    expect(del.body.error).toEqual({ code: "NOT_FOUND", details: "No route for DELETE /api/sessions/" });
    const patch = await call("/api/sessions//deactivate", { method: "PATCH", token: userAuth });
    expect(patch.status).toBe(404);
    const last = await call("/sessions/user//last", { token: await admin$() });
    expect(last.status).toBe(404);
    expect(last.body).toEqual({ detail: "No route for GET /sessions/user//last", code: "NOT_FOUND" });
    expect(await adminListOf(u)).toHaveLength(1);
  });
});

describe("bad limit and offset", () => {
  it("answer 400 naming the parameter on every paginated route", async () => {
    const token = await admin$();
    const u = user("bad-query");
    await createFor(u);
    const limits = ["0", "101", "abc", "-1", "1.5", "", "1e1", "%205", "10&limit=20", "99999999"];
    const offsets = ["-1", "1001", "x", "1.0", "", "0x10"];
    for (const base of ["/sessions", "/sessions/", `/sessions/user/${u}`]) {
      for (const limit of limits) {
        const response = await call(`${base}?limit=${limit}`, { token });
        expect(response.status, `${base} limit=${limit}`).toBe(400);
        expect(response.body).toEqual(validation("limit must be an integer from 1 to 100"));
      }
      for (const offset of offsets) {
        const response = await call(`${base}?offset=${offset}`, { token });
        expect(response.status, `${base} offset=${offset}`).toBe(400);
        expect(response.body).toEqual(validation("offset must be an integer from 0 to 1000"));
      }
    }
    expect(await adminListOf(u)).toHaveLength(1);
    // Boundaries are accepted.
    for (const query of ["limit=1", "limit=100", "offset=0", "offset=1000", "limit=007"]) {
      expect((await call(`/sessions/user/${u}?${query}`, { token })).status, query).toBe(200);
    }
  });
});
