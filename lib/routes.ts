import type { IndexName } from "./table.ts";

// The one list of endpoints. The CDK stack makes a function, an integration and an IAM policy per
// entry; the local runner serves the same entries; tests and benchmarks iterate over them.

export type Method = "GET" | "POST" | "PATCH" | "DELETE";
export type Family = "user" | "admin" | "ops";

/** DynamoDB actions a route's function may perform, on the table itself or on one of its indexes. */
export type TableAction =
  | "dynamodb:GetItem"
  | "dynamodb:PutItem"
  | "dynamodb:UpdateItem"
  | "dynamodb:DeleteItem";
export interface Access {
  readonly table: readonly TableAction[];
  readonly query: readonly IndexName[];
}

export interface Route {
  /** PascalCase id: CDK construct id, log field, OpenAPI operationId. */
  readonly id: string;
  /** `$default` receives every request that no other route matches (see functions/fallback.ts). */
  readonly method: Method | "ANY";
  readonly path: string;
  readonly entry: string;
  readonly family: Family;
  readonly access: Access;
}

// Every authenticated route reads the session behind a `sid`-bound JWT or an opaque token.
const authRead = ["dynamodb:GetItem"] as const;
// A user route's credential bound to a session is a use of it: one conditional UpdateItem of
// `lastActiveAt` at most once per touch interval (section 8). Admin routes take a backend's JWT.
const authUse = [...authRead, "dynamodb:UpdateItem"] as const;
// Ending a session: one transaction marks it ended and deletes its token item (its parts are
// authorized as UpdateItem and DeleteItem), then the session item is deleted.
const ending = [...authRead, "dynamodb:UpdateItem", "dynamodb:DeleteItem"] as const;
// Creating: the session (and a supplied token's item) in one transaction; under a per-user cap also
// the user's cap item (GetItem, PutItem), its candidates (GetItem) and the ending of an evicted
// session (UpdateItem, DeleteItem); a user without a cap item yet is read from the user index.
const creating = [...ending, "dynamodb:PutItem"] as const;

export const routes = [
  {
    id: "Health",
    method: "GET",
    path: "/health",
    entry: "functions/health.ts",
    family: "ops",
    access: { table: [], query: [] },
  },
  {
    id: "AdminCreateSession",
    method: "POST",
    path: "/sessions",
    entry: "functions/admin-create-session.ts",
    family: "admin",
    access: { table: creating, query: ["byUser"] },
  },
  {
    id: "AdminListSessions",
    method: "GET",
    path: "/sessions",
    entry: "functions/admin-list-sessions.ts",
    family: "admin",
    access: { table: authRead, query: ["byCreated"] },
  },
  {
    // RFC 7662: the credential check of the user family, read only (never a use).
    id: "AdminIntrospect",
    method: "POST",
    path: "/sessions/introspect",
    entry: "functions/admin-introspect.ts",
    family: "admin",
    access: { table: authRead, query: [] },
  },
  {
    id: "AdminGetSession",
    method: "GET",
    path: "/sessions/{id}",
    entry: "functions/admin-get-session.ts",
    family: "admin",
    access: { table: authRead, query: [] },
  },
  {
    id: "AdminDeleteSession",
    method: "DELETE",
    path: "/sessions/{id}",
    entry: "functions/admin-delete-session.ts",
    family: "admin",
    access: { table: ending, query: [] },
  },
  {
    id: "AdminCreateUserSession",
    method: "POST",
    path: "/sessions/user/{user_id}",
    entry: "functions/admin-create-user-session.ts",
    family: "admin",
    access: { table: creating, query: ["byUser"] },
  },
  {
    id: "AdminListUserSessions",
    method: "GET",
    path: "/sessions/user/{user_id}",
    entry: "functions/admin-list-user-sessions.ts",
    family: "admin",
    access: { table: authRead, query: ["byUser"] },
  },
  {
    id: "AdminLastUserSession",
    method: "GET",
    path: "/sessions/user/{user_id}/last",
    entry: "functions/admin-last-user-session.ts",
    family: "admin",
    access: { table: authRead, query: ["byUser"] },
  },
  {
    id: "AdminDeleteUserSessions",
    method: "DELETE",
    path: "/sessions/user/{user_id}",
    entry: "functions/admin-delete-user-sessions.ts",
    family: "admin",
    access: { table: ending, query: ["byUser"] },
  },
  {
    id: "UserListSessions",
    method: "GET",
    path: "/api/sessions",
    entry: "functions/user-list-sessions.ts",
    family: "user",
    access: { table: authUse, query: ["byUser"] },
  },
  {
    id: "UserDeleteAllSessions",
    method: "DELETE",
    path: "/api/sessions",
    entry: "functions/user-delete-all-sessions.ts",
    family: "user",
    access: { table: ending, query: ["byUser"] },
  },
  {
    // Before `{id}` routes: a literal segment wins over a parameter, as in API Gateway's own matching.
    id: "UserCurrentSession",
    method: "GET",
    path: "/api/sessions/current",
    entry: "functions/user-current-session.ts",
    family: "user",
    access: { table: authUse, query: [] },
  },
  {
    id: "UserDeleteSession",
    method: "DELETE",
    path: "/api/sessions/{id}",
    entry: "functions/user-delete-session.ts",
    family: "user",
    access: { table: ending, query: [] },
  },
  {
    id: "UserDeactivateSession",
    method: "PATCH",
    path: "/api/sessions/{id}/deactivate",
    entry: "functions/user-deactivate-session.ts",
    family: "user",
    access: { table: authUse, query: [] },
  },
  {
    // The API reference (Redoc) and the document it renders. Their own functions, so that no
    // request-path bundle carries the renderer; the files they serve sit beside their bundles
    // (lib/docs.ts).
    id: "Docs",
    method: "GET",
    path: "/docs",
    entry: "functions/docs.ts",
    family: "ops",
    access: { table: [], query: [] },
  },
  {
    id: "DocsAsset",
    method: "GET",
    path: "/docs/{asset}",
    entry: "functions/docs-asset.ts",
    family: "ops",
    access: { table: [], query: [] },
  },
  {
    id: "OpenApiDocument",
    method: "GET",
    path: "/openapi.json",
    entry: "functions/openapi-document.ts",
    family: "ops",
    access: { table: [], query: [] },
  },
  {
    // Serves `GET /sessions/` (a route key cannot end in `/`) and answers 404/405 in the family's own
    // shape for everything else, so API Gateway's plain 404 body never reaches a client.
    id: "Fallback",
    method: "ANY",
    path: "$default",
    entry: "functions/fallback.ts",
    family: "ops",
    access: { table: authRead, query: ["byCreated"] },
  },
] as const satisfies readonly Route[];

export type RouteId = (typeof routes)[number]["id"];

export function familyOf(path: string): Family {
  if (path === "/api/sessions" || path.startsWith("/api/")) return "user";
  if (path === "/sessions" || path.startsWith("/sessions/")) return "admin";
  return "ops";
}

interface Pattern {
  route: Route;
  names: string[];
  regex: RegExp;
}

let compiled: Pattern[] | undefined;

/**
 * The route table as regular expressions, built on first use: only the local runner and the fallback
 * function match paths, and a function's import should not pay for it (esbuild drops it from the
 * bundles that never call it, which it cannot do for a top-level computation).
 */
function patterns(): Pattern[] {
  compiled ??= routes
    .filter((route) => route.path !== "$default")
    .map((route) => ({
      route: route as Route,
      names: [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string),
      // A literal `.` (`/openapi.json`) must not match any character.
      regex: new RegExp(
        `^${route.path.replace(/[.+*?^$()|[\]\\]/g, "\\$&").replace(/\{\w+\}/g, "([^/]+)")}$`,
      ),
    }));
  return compiled;
}

export interface RouteMatch {
  route: Route;
  /** Raw (still percent-encoded) path segments, by parameter name. */
  params: Record<string, string>;
}

/** Matches like an HTTP API route key: exact path, `{name}` standing for one non-empty segment. */
export function matchRoute(method: string, path: string): RouteMatch | undefined {
  for (const { route, names, regex } of patterns()) {
    if (route.method !== method) continue;
    const m = regex.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    names.forEach((name, i) => {
      params[name] = m[i + 1] as string;
    });
    return { route, params };
  }
  return undefined;
}

/** The methods some route serves on this path: the `Allow` header of a 405. */
export function allowedMethods(path: string): Method[] {
  return patterns()
    .filter(({ regex }) => regex.test(path))
    .map(({ route }) => route.method as Method);
}

/**
 * Whether a route's function reads or writes the table. Every authenticated route does (it reads the
 * session behind a credential), so these are also the functions that need the signing key; the others
 * (`/health`) get neither the table's name nor the key.
 */
export function usesStore(route: Pick<Route, "access">): boolean {
  return route.access.table.length > 0 || route.access.query.length > 0;
}

// Pure: esbuild leaves it out of the functions that never read it.
export const fallbackRoute = /* @__PURE__ */ routes.find((route) => route.path === "$default") as Route;

export function routeIdOf(routeKey: string | undefined): string {
  if (!routeKey || routeKey === "$default") return "Fallback";
  return routes.find((route) => `${route.method} ${route.path}` === routeKey)?.id ?? routeKey;
}

/** Every function's limits, shared by the CDK stack and the local runner. */
export const functionDefaults = {
  /** Leaves room for the store's bounded retries (3 attempts of at most 2 s) under API Gateway's 30 s. */
  timeoutSeconds: 10,
  memoryMb: 512,
} as const;
