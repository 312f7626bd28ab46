import { describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../functions/shared/http.ts";
import {
  DEFAULT_LIMIT,
  MAX_LIMIT,
  MAX_OFFSET,
  MAX_USER_AGENT_LENGTH,
  MAX_USER_ID_LENGTH,
  SESSION_ID_PATTERN,
} from "../../functions/shared/input.ts";
import { routes } from "../../lib/routes.ts";
import type { ApiResponse } from "../support/api.ts";
import {
  ajv,
  documentedMethods,
  expectMatchesSpec,
  operationFor,
  resolve,
  spec,
} from "../support/openapi.ts";

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function operations() {
  const found: { path: string; method: string; operation: any }[] = [];
  for (const [path, item] of Object.entries<any>(spec.paths)) {
    for (const method of METHODS) {
      if (item[method]) found.push({ path, method: method.toUpperCase(), operation: item[method] });
    }
  }
  return found;
}

function allResponses() {
  const found: { where: string; status: string; response: any }[] = [];
  for (const { path, method, operation } of operations()) {
    for (const [status, response] of Object.entries(operation.responses)) {
      found.push({ where: `${method} ${path}`, status, response: resolve(response as any) });
    }
  }
  for (const [status, response] of Object.entries(spec["x-unmatched-requests"].responses)) {
    found.push({ where: "unmatched", status, response: resolve(response as any) });
  }
  return found;
}

function fake(status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  const text = body === undefined ? "" : JSON.stringify(body);
  return {
    status,
    headers: new Headers({
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "x-request-id": "0f8fad5b-d9cb-469f-a165-70867728950e",
      ...headers,
    }),
    body,
    text,
  };
}

const session = {
  id: "abcdefghijklmnopqrstuvwxyzABCDEF",
  user_id: "u1",
  ip_address: null,
  user_agent: null,
  created_at: "2030-01-01T00:00:00.000Z",
  updated_at: "2030-01-01T00:00:00.000Z",
  expires_at: "2030-01-02T00:00:00.000Z",
  is_active: true,
  deactivated_at: null,
  last_active_at: "2030-01-01T00:00:00.000Z",
  idle_expires_at: null,
};

describe("openapi.yaml", () => {
  it("is OpenAPI 3.1 with one operation per route of lib/routes.ts, operationId = route id", () => {
    expect(spec.openapi).toBe("3.1.0");
    const expected = routes
      .filter((route) => route.path !== "$default")
      .map((route) => `${route.method} ${route.path} ${route.id}`);
    expected.push("GET /sessions/ Fallback");
    const documented = operations().map(
      ({ path, method, operation }) => `${method} ${path} ${operation.operationId}`,
    );
    expect(documented.sort()).toEqual(expected.sort());
    expect(spec["x-unmatched-requests"].operationId).toBe("Fallback");
  });

  it("gives every response a description and every operation a unique operationId", () => {
    for (const { where, status, response } of allResponses()) {
      expect(response.description, `${where} ${status}`).toBeTypeOf("string");
    }
    const ids = operations().map(({ operation }) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const parameter of Object.values<any>(spec.components.parameters)) {
      if (parameter.in === "path") expect(parameter.required, parameter.name).toBe(true);
      expect(parameter.schema, parameter.name).toBeDefined();
    }
  });

  it("gives every operation the security of its family", () => {
    for (const route of routes) {
      if (route.path === "$default") continue;
      const operation = spec.paths[route.path][route.method.toLowerCase()];
      const expected =
        route.family === "user"
          ? [{ bearerJwt: [] }, { sessionToken: [] }]
          : route.family === "admin"
            ? [{ bearerJwt: ["sessions:admin"] }]
            : [];
      expect(operation.security, route.id).toEqual(expected);
    }
    expect(spec.paths["/sessions/"].get.security).toEqual([{ bearerJwt: ["sessions:admin"] }]);
  });

  it("documents x-request-id on every response and the header each status implies", () => {
    const responses = allResponses();
    expect(responses.length).toBeGreaterThan(60);
    for (const { where, status, response } of responses) {
      const headers = Object.fromEntries(
        Object.entries<any>(response.headers ?? {}).map(([name, header]) => [name, resolve(header)]),
      );
      const label = `${where} ${status}`;
      const schemas = Object.values<any>(response.content ?? {}).map((media) => media.schema);
      expect(schemas.length, label).toBeGreaterThan(0);
      expect(schemas.every(Boolean), label).toBe(true);
      // API Gateway's own 413 (a body over 10 MB) never reaches a function.
      if (response["x-answered-by"] === "api-gateway") continue;
      expect(headers["x-request-id"]?.required, label).toBe(true);
      if (status === "401") expect(headers["www-authenticate"]?.required, label).toBe(true);
      if (status === "405") expect(headers.allow?.required, label).toBe(true);
      if (status === "503") expect(headers["retry-after"]?.required, label).toBe(true);
    }
    for (const path of ["/sessions", "/sessions/", "/sessions/user/{user_id}"]) {
      expect(resolve<any>(spec.paths[path].get.responses["200"]).headers.link).toBeDefined();
    }
  });

  it("declares every path parameter its template names", () => {
    for (const { path, method, operation } of operations()) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = [...(spec.paths[path].parameters ?? []), ...(operation.parameters ?? [])]
        .map((p: any) => resolve<any>(p))
        .filter((p) => p.in === "path")
        .map((p) => p.name);
      expect(declared.sort(), `${method} ${path}`).toEqual(names.sort());
    }
  });

  it("states the limits that functions/shared/input.ts enforces", () => {
    const parameters = spec.components.parameters;
    expect(parameters.SessionId.schema.pattern).toBe(SESSION_ID_PATTERN.source);
    expect(parameters.UserId.schema).toMatchObject({ minLength: 1, maxLength: MAX_USER_ID_LENGTH });
    expect(parameters.Limit.schema).toMatchObject({ minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT });
    expect(parameters.Offset.schema).toMatchObject({ minimum: 0, maximum: MAX_OFFSET, default: 0 });
    const body = spec.components.schemas.CreateUserSessionBody.properties;
    expect(body.user_agent.maxLength).toBe(MAX_USER_AGENT_LENGTH);
    expect(body.token).toMatchObject({ minLength: 16, maxLength: 4096 });
    expect(
      spec.components.responses.AdminPayloadTooLarge.content["application/json"].schema.properties,
    ).toEqual({
      detail: { const: `Request body must be at most ${MAX_BODY_BYTES} bytes` },
      code: { const: "PAYLOAD_TOO_LARGE" },
    });
  });

  it("resolves every $ref and compiles every schema in strict mode", () => {
    const walk = (node: unknown): void => {
      if (typeof node !== "object" || node === null) return;
      const ref = (node as any).$ref;
      if (typeof ref === "string") expect(() => resolve({ $ref: ref }), ref).not.toThrow();
      for (const child of Object.values(node)) walk(child);
    };
    walk(spec);
    for (const name of Object.keys(spec.components.schemas)) {
      expect(ajv.getSchema(`openapi-schemas#/$defs/${name}`), name).toBeTypeOf("function");
    }
  });

  it("matches paths to templates the way the route table does", () => {
    expect(operationFor("GET", "/sessions/").operationId).toBe("Fallback");
    expect(operationFor("GET", "/sessions/").template).toBe("/sessions/");
    expect(operationFor("GET", "/sessions?limit=5").operationId).toBe("AdminListSessions");
    expect(operationFor("GET", "/sessions/user/u1").operationId).toBe("AdminListUserSessions");
    expect(operationFor("GET", "/sessions/user/u1/last").operationId).toBe("AdminLastUserSession");
    expect(operationFor("GET", "/sessions/user").operationId).toBe("AdminGetSession");
    expect(operationFor("PATCH", "/api/sessions/x/deactivate").operationId).toBe("UserDeactivateSession");
    expect(operationFor("PUT", "/api/sessions").template).toBeUndefined();
    expect(operationFor("GET", "/api/sessions/").template).toBeUndefined();
    expect(documentedMethods("/sessions/{id}")).toEqual(["GET", "DELETE"]);
  });
});

describe("expectMatchesSpec", () => {
  it("accepts a documented response", () => {
    expect(() => expectMatchesSpec("GET", "/sessions/abc", fake(200, session))).not.toThrow();
    expect(() =>
      expectMatchesSpec(
        "GET",
        "/sessions",
        fake(200, [{ ...session, user: { id: "u1", email: "a@b.c" } }], {
          link: '</sessions?limit=1&cursor=abc.def>; rel="next"',
        }),
      ),
    ).not.toThrow();
  });

  it("fails on an undocumented status", () => {
    expect(() =>
      expectMatchesSpec("GET", "/sessions/abc", fake(409, { detail: "x", code: "TOKEN_CONFLICT" })),
    ).toThrow(/answered 409, which openapi\.yaml does not document/);
  });

  it("fails on an extra or missing property, a wrong constant or a bad time", () => {
    expect(() => expectMatchesSpec("GET", "/sessions/abc", fake(200, { ...session, secret: 1 }))).toThrow(
      /additionalProperty.*secret|unevaluatedProperty.*secret/,
    );
    const { deactivated_at: _, ...partial } = session;
    expect(() => expectMatchesSpec("GET", "/sessions/abc", fake(200, partial))).toThrow(/deactivated_at/);
    expect(() =>
      expectMatchesSpec("DELETE", "/sessions/abc", fake(200, { message: "Session deleted successfully" })),
    ).toThrow(/must be equal to constant/);
    expect(() =>
      expectMatchesSpec(
        "GET",
        "/sessions/abc",
        fake(200, { ...session, created_at: "2030-01-01T00:00:00Z" }),
      ),
    ).toThrow(/created_at/);
  });

  it("fails on a response without x-content-type-options: nosniff", () => {
    const response = fake(200, session);
    response.headers.delete("x-content-type-options");
    expect(() => expectMatchesSpec("GET", "/sessions/abc", response)).toThrow(
      /x-content-type-options is null, not nosniff/,
    );
  });

  it("fails when a required header is missing or malformed", () => {
    const body = { detail: "Invalid or missing authentication token", code: "UNAUTHORIZED" };
    expect(() => expectMatchesSpec("GET", "/sessions", fake(401, body))).toThrow(
      /required header www-authenticate is missing/,
    );
    expect(() =>
      expectMatchesSpec("GET", "/sessions", fake(200, [], { link: "</sessions?limit=1>; rel=next" })),
    ).toThrow(/header link/);
    const noId = fake(200, { status: "ok" });
    noId.headers.delete("x-request-id");
    expect(() => expectMatchesSpec("GET", "/health", noId)).toThrow(
      /required header x-request-id is missing/,
    );
  });

  it("checks unmatched requests against the family shapes", () => {
    const userBody = {
      success: false,
      message: "Method not allowed",
      error: { code: "METHOD_NOT_ALLOWED", details: "Allowed methods: GET, DELETE" },
      timestamp: "2030-01-01T00:00:00.000Z",
      requestId: "r",
    };
    expect(() =>
      expectMatchesSpec("PUT", "/api/sessions", fake(405, userBody, { allow: "GET, DELETE" })),
    ).not.toThrow();
    expect(() => expectMatchesSpec("PUT", "/api/sessions", fake(405, userBody))).toThrow(/header allow/);
    expect(() => expectMatchesSpec("PUT", "/api/sessions", fake(401, userBody))).toThrow(/does not document/);
  });
});
