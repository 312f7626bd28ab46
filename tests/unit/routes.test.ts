import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { allowedMethods, familyOf, matchRoute, routeIdOf, routes } from "../../lib/routes.ts";

describe("route table", () => {
  it("matches like an HTTP API route key: exact paths, one non-empty segment per parameter", () => {
    expect(matchRoute("GET", "/sessions/user/u1/last")?.route.id).toBe("AdminLastUserSession");
    expect(matchRoute("GET", "/sessions/user/u1")?.params).toEqual({ user_id: "u1" });
    expect(matchRoute("PATCH", "/api/sessions/abc/deactivate")?.params).toEqual({ id: "abc" });
    expect(matchRoute("GET", "/sessions/")).toBeUndefined();
    expect(matchRoute("PATCH", "/api/sessions//deactivate")).toBeUndefined();
    expect(matchRoute("PUT", "/sessions/abc")).toBeUndefined();
  });

  it("knows which methods a path allows and which family it belongs to", () => {
    expect(allowedMethods("/sessions/abc")).toEqual(["GET", "DELETE"]);
    expect(allowedMethods("/nowhere")).toEqual([]);
    expect(familyOf("/api/sessions/x")).toBe("user");
    expect(familyOf("/sessions")).toBe("admin");
    expect(familyOf("/sessionsx")).toBe("ops");
    expect(routeIdOf("DELETE /api/sessions/{id}")).toBe("UserDeleteSession");
    expect(routeIdOf("$default")).toBe("Fallback");
  });

  it("has unique ids and route keys", () => {
    expect(new Set(routes.map((r) => r.id)).size).toBe(routes.length);
    expect(new Set(routes.map((r) => `${r.method} ${r.path}`)).size).toBe(routes.length);
  });

  it("is the table the README documents", () => {
    const readme = readFileSync("README.md", "utf8");
    const documented = [
      ...readme.matchAll(/^\| `(\w+)` *\| (\w+) *\| `([^`]+)` *\| (\w+) *\| ([^|]+?) *\|$/gm),
    ].map((m) => ({
      id: m[1],
      method: m[2],
      path: m[3],
      family: m[4],
      access: m[5]?.trim(),
    }));
    const actual = routes.map((r) => ({
      id: r.id,
      method: r.method,
      path: r.path,
      family: r.family,
      access:
        [
          ...r.access.table.map((a) => a.replace("dynamodb:", "")),
          ...r.access.query.map((i) => `Query ${i}`),
        ].join(", ") || "none",
    }));
    expect(documented).toEqual(actual);
  });
});
