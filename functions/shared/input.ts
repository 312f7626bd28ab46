import { isIP } from "node:net";
import { isSessionToken, SESSION_ID_PATTERN, TOKEN_MAX_LENGTH, TOKEN_MIN_LENGTH } from "./auth.ts";
import { config } from "./config.ts";
import { decodeCursor } from "./cursor.ts";
import { badRequest } from "./errors.ts";
import type { PageRequest } from "./store/index.ts";

// Request parsing: every rule of CONTRACT section 2, each failure a 400 naming the field.

export { SESSION_ID_PATTERN };
export const MAX_USER_ID_LENGTH = 256;
export const MAX_USER_AGENT_LENGTH = 512;
export const MAX_PROFILE_BYTES = 1024;
/** JSON.stringify recurses: a bound on nesting keeps a deep `user` a 400, never a stack overflow. */
export const MAX_PROFILE_DEPTH = 16;
export const MAX_LIMIT = 100;
export const DEFAULT_LIMIT = 10;
/** Skipping costs a read per skipped item; deeper pages are reached with the `cursor` of the Link header. */
export const MAX_OFFSET = 1000;

export interface PathEvent {
  pathParameters?: Record<string, string | undefined> | undefined;
  queryStringParameters?: Record<string, string | undefined> | undefined;
}

export function sessionIdParam(event: PathEvent): string {
  const id = event.pathParameters?.id;
  if (id === undefined || !SESSION_ID_PATTERN.test(id)) {
    throw badRequest("id must be 1-128 characters of A-Z, a-z, 0-9, '-' and '_'");
  }
  return id;
}

export function userIdParam(event: PathEvent): string {
  return checkUserId(event.pathParameters?.user_id, "user_id");
}

function checkUserId(value: unknown, field: string): string {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw badRequest(`${field} must be a string or a safe integer`);
    return String(value);
  }
  if (
    typeof value !== "string" ||
    value.length === 0 ||
    value.length > MAX_USER_ID_LENGTH ||
    !value.isWellFormed()
  ) {
    throw badRequest(`${field} must be a string of 1-${MAX_USER_ID_LENGTH} characters or a safe integer`);
  }
  return value;
}

/** `limit`, `offset` and `cursor` of a paginated list; `list` names the list the cursor must belong to. */
export async function pageParams(
  event: PathEvent,
  list: string,
  defaultLimit = DEFAULT_LIMIT,
): Promise<PageRequest> {
  const query = event.queryStringParameters ?? {};
  const limit = integerParam(query.limit, "limit", 1, MAX_LIMIT) ?? defaultLimit;
  const offset = integerParam(query.offset, "offset", 0, MAX_OFFSET);
  if (query.cursor === undefined) return { limit, offset: offset ?? 0 };
  if (offset !== undefined) throw badRequest("cursor and offset cannot be combined");
  return { limit, offset: 0, startKey: await decodeCursor(list, query.cursor) };
}

function integerParam(raw: string | undefined, name: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = /^\d{1,7}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value >= min && value <= max)) throw badRequest(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

export interface CreateInput {
  userId: string;
  expiresAt: Date;
  token: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  profile: Record<string, unknown> | null;
}

/** The body of both create routes; `pathUserId` is the `{user_id}` of `POST /sessions/user/{user_id}`. */
export function createInput(body: unknown, pathUserId?: string, now = new Date()): CreateInput {
  if (body === undefined) body = {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest("request body must be a JSON object");
  }
  const fields = body as Record<string, unknown>;
  const bodyUserId = alias(fields, "userId", "user_id", (v, f) => checkUserId(v, f));
  let userId: string;
  if (pathUserId !== undefined) {
    if (bodyUserId !== undefined && bodyUserId !== pathUserId) {
      throw badRequest("user_id in the body differs from the user_id in the path");
    }
    userId = pathUserId;
  } else if (bodyUserId === undefined) {
    throw badRequest("userId (or user_id) is required");
  } else {
    userId = bodyUserId;
  }
  const expiresAt =
    alias(fields, "expiresAt", "expires_at", (v, f) => parseExpiry(v, f, now)) ??
    new Date(now.getTime() + config.sessionTtlSeconds * 1000);
  return {
    userId,
    expiresAt,
    token: optional(fields.token, "token", checkToken),
    ipAddress: optional(fields.ip_address, "ip_address", checkIp),
    userAgent: optional(fields.user_agent, "user_agent", checkUserAgent),
    profile: optional(fields.user, "user", checkProfile),
  };
}

function alias<T>(
  fields: Record<string, unknown>,
  a: string,
  b: string,
  parse: (value: unknown, field: string) => T,
) {
  const first = fields[a] === undefined ? undefined : parse(fields[a], a);
  const second = fields[b] === undefined ? undefined : parse(fields[b], b);
  if (first !== undefined && second !== undefined && !same(first, second)) {
    throw badRequest(`${a} and ${b} are both given and differ`);
  }
  return first ?? second;
}

const same = (a: unknown, b: unknown) =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;

function optional<T>(value: unknown, field: string, check: (value: unknown, field: string) => T): T | null {
  return value === undefined || value === null ? null : check(value, field);
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;

export function parseExpiry(value: unknown, field: string, now: Date): Date {
  const invalid = () => badRequest(`${field} must be an RFC 3339 date-time with Z or an offset`);
  if (typeof value !== "string") throw invalid();
  const m = RFC3339.exec(value);
  if (!m) throw invalid();
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59)
    throw invalid();
  if (m[9] !== undefined && (Number(m[10]) > 23 || Number(m[11]) > 59)) throw invalid();
  const fraction = (m[7] ?? "").slice(0, 4); // milliseconds are the stored precision
  const zone = m[8]?.toUpperCase() === "Z" ? "Z" : `${m[9]}${m[10]}:${m[11]}`;
  const instant = Date.parse(`${m.slice(1, 4).join("-")}T${m.slice(4, 7).join(":")}${fraction}${zone}`);
  if (Number.isNaN(instant)) throw invalid();
  if (instant <= now.getTime()) throw badRequest(`${field} must be in the future`);
  if (instant > now.getTime() + config.sessionMaxTtlSeconds * 1000) {
    throw badRequest(`${field} must be at most ${config.sessionMaxTtlSeconds} seconds ahead`);
  }
  return new Date(instant);
}

function checkToken(value: unknown, field: string): string {
  if (typeof value !== "string" || !isSessionToken(value)) {
    throw badRequest(
      `${field} must be ${TOKEN_MIN_LENGTH}-${TOKEN_MAX_LENGTH} characters of A-Z a-z 0-9 - . _ ~ + / with optional trailing =`,
    );
  }
  // A JWT would be verified as a JWT on every request, never looked up, and so would outlive the
  // session it was registered to: only opaque tokens are registered.
  if (isCompactJws(value)) {
    throw badRequest(`${field} must be an opaque token, not a JWT (a JWT is verified, not looked up)`);
  }
  return value;
}

/** Three dot-separated base64url parts whose first decodes to a JSON object: a compact JWS (JWT). */
export function isCompactJws(value: string): boolean {
  const parts = value.split(".");
  if (parts.length !== 3 || !parts.every((part) => /^[A-Za-z0-9_-]*$/.test(part))) return false;
  try {
    const header: unknown = JSON.parse(Buffer.from(parts[0] as string, "base64url").toString("utf8"));
    return typeof header === "object" && header !== null && !Array.isArray(header);
  } catch {
    return false;
  }
}

function checkIp(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length > 64 || isIP(value) === 0) {
    throw badRequest(`${field} must be an IPv4 or IPv6 address`);
  }
  return value;
}

function checkUserAgent(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length > MAX_USER_AGENT_LENGTH || !value.isWellFormed()) {
    throw badRequest(`${field} must be a string of at most ${MAX_USER_AGENT_LENGTH} characters`);
  }
  return value;
}

function checkProfile(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest(`${field} must be a JSON object`);
  }
  if (!shallowerThan(value, MAX_PROFILE_DEPTH)) {
    throw badRequest(`${field} may nest objects and arrays at most ${MAX_PROFILE_DEPTH} levels deep`);
  }
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_PROFILE_BYTES) {
    throw badRequest(`${field} must be at most ${MAX_PROFILE_BYTES} bytes of JSON`);
  }
  return value as Record<string, unknown>;
}

/** Iterative, so the check itself cannot overflow the stack. */
function shallowerThan(value: unknown, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [node, depth] = next;
    if (typeof node !== "object" || node === null) continue;
    if (depth > maxDepth) return false;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return true;
}

// --- Session lifecycle (CONTRACT section 8) -----------------------------------------------------

/** The path id that names the caller's current session on the user routes taking `{id}`. */
export const CURRENT = "current";

/** A user route's `{id}`; `current` is the caller's current session, undefined when it has none. */
export function ownSessionIdParam(event: PathEvent, currentId: string | undefined): string | undefined {
  const id = sessionIdParam(event);
  return id === CURRENT ? currentId : id;
}

export type DeleteScope = "all" | "others";

/** `scope` of `DELETE /api/sessions`: `all` (the default) or `others`. */
export function deleteScopeParam(event: PathEvent): DeleteScope {
  const scope = event.queryStringParameters?.scope;
  if (scope === undefined || scope === "all") return "all";
  if (scope === "others") return "others";
  throw badRequest("scope must be all or others");
}

export interface BodyEvent {
  body?: unknown;
  isBase64Encoded?: boolean;
  headers?: Record<string, string | undefined>;
}

/**
 * The `token` of an introspection request (RFC 7662): a form body (`application/x-www-form-urlencoded`,
 * what the RFC specifies) or JSON `{"token": …}`. The form is read with URLSearchParams, the WHATWG
 * parser built into Node: one flat field needs no dependency, and it yields strings only (no nested
 * objects, nothing that could reach a prototype).
 */
export function introspectionToken(event: BodyEvent): string {
  const type = (event.headers?.["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  const raw = typeof event.body === "string" ? event.body : "";
  const text = event.isBase64Encoded ? Buffer.from(raw, "base64").toString("utf8") : raw;
  let tokens: unknown[];
  if (type === "application/x-www-form-urlencoded") {
    tokens = new URLSearchParams(text).getAll("token");
  } else if (type === "application/json" || type?.endsWith("+json")) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw badRequest("request body must be valid JSON");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw badRequest("request body must be a JSON object with a token");
    }
    const token = (body as Record<string, unknown>).token;
    tokens = token === undefined ? [] : [token];
  } else {
    throw badRequest(
      'request body must be application/x-www-form-urlencoded (token=…) or application/json ({"token": …})',
    );
  }
  if (tokens.length !== 1 || typeof tokens[0] !== "string" || tokens[0] === "") {
    throw badRequest(
      tokens.length > 1 ? "token must be given once" : "token is required (a non-empty string)",
    );
  }
  return tokens[0];
}
