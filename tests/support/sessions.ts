import { createHash, randomBytes } from "node:crypto";
import { afterAll, expect } from "vitest";
import { feedOf } from "../../lib/table.ts";
import { type ApiResponse, adminToken, table, uniqueUser } from "./api.ts";
import { call } from "./openapi.ts";

// Flows several integration tests share; every response goes through the spec check of `call`.

let admin: Promise<string> | undefined;
export const admin$ = () => {
  admin ??= adminToken();
  return admin;
};

/** `POST /sessions/user/{user_id}` as an admin; fails unless it answers 201. */
export async function createFor(userId: string, body?: Record<string, unknown>) {
  const response = await call(`/sessions/user/${encodeURIComponent(userId)}`, {
    method: "POST",
    token: await admin$(),
    ...(body && { body }),
  });
  expect(response.status, response.text).toBe(201);
  return response.body as Created;
}

export interface Created {
  id: string;
  user_id: string;
  token: string;
  access_token: string;
  created_at: string;
  expires_at: string;
  [key: string]: unknown;
}

/** A client-chosen session token nobody else uses. */
export const newOpaqueToken = () => `tok_${randomBytes(18).toString("base64url")}`;

export const digest = (token: string) => createHash("sha256").update(token).digest("hex");

/** Follows `Link: <…>; rel="next"` from `first` until there is none; returns every page. */
export async function walk(first: string, token: string, maxPages = 500) {
  const pages: ApiResponse<any[]>[] = [];
  let next: string | undefined = first;
  while (next) {
    const page = await call<any[]>(next, { token });
    expect(page.status, page.text).toBe(200);
    pages.push(page);
    next = nextLink(page);
    if (pages.length > maxPages) throw new Error(`more than ${maxPages} pages from ${first}`);
  }
  return pages;
}

export function nextLink(response: ApiResponse): string | undefined {
  const link = response.headers.get("link");
  if (link === null) return undefined;
  const match = /^<([^>]+)>; rel="next"$/.exec(link);
  if (!match) throw new Error(`malformed Link header: ${link}`);
  return match[1];
}

/** An answer with its per-request fields blanked, for byte-for-byte comparisons. */
export const normalized = (response: ApiResponse) =>
  `${response.status} ${response.text
    .replace(/"timestamp":"[^"]*"/, '"timestamp":"…"')
    .replace(/"requestId":"[^"]*"/, '"requestId":"…"')}`;

interface PlantOptions {
  id?: string;
  createdAt?: string;
  tokenDigest?: string;
  isActive?: boolean;
  /** Another table than the shared integration table (a test's own runner). */
  tableName?: string;
}

/**
 * Writes a session straight into the table, in the item layout of functions/shared/store/items.ts, with its
 * `ttl` a day after its expiry: DynamoDB Local's sweeper (which acts within seconds) cannot delete it
 * during a test, so a read that does not see it has filtered it, and a write that must leave it alone
 * can be checked.
 */
export async function plantSession(userId: string, expiresAt: string, options: PlantOptions = {}) {
  const id = options.id ?? randomBytes(24).toString("base64url");
  const createdAt = options.createdAt ?? new Date(Date.now() - 1_000).toISOString();
  const ttl = Math.ceil(Date.parse(expiresAt) / 1000) + 86_400;
  await table(options.tableName).put({
    id,
    userId,
    feed: feedOf(id),
    createdAt,
    updatedAt: createdAt,
    expiresAt,
    ttl,
    isActive: options.isActive ?? true,
    ...(options.tokenDigest && { tokenDigest: options.tokenDigest }),
  });
  if (options.tokenDigest) {
    await table(options.tableName).put({
      id: `token#${options.tokenDigest}`,
      sessionId: id,
      expiresAt,
      ttl,
    });
  }
  return { id, createdAt, expiresAt };
}

/** An expired session as DynamoDB's TTL sweeper may leave it for days (see plantSession). */
export const plantExpired = (userId: string, options: PlantOptions = {}) =>
  plantSession(userId, new Date(Date.now() - 60_000).toISOString(), options);

/** A user's sessions as the admin list shows them (every page). */
export async function adminListOf(userId: string): Promise<any[]> {
  const pages = await walk(`/sessions/user/${encodeURIComponent(userId)}?limit=100`, await admin$());
  return pages.flatMap((page) => page.body);
}

/** Removes every session of a user (and their tokens) through the admin API. */
export async function cleanup(...userIds: string[]) {
  const token = await admin$();
  for (const userId of userIds) {
    for (const session of await adminListOf(userId)) {
      const response = await call(`/sessions/${session.id}`, { method: "DELETE", token });
      expect([200, 404]).toContain(response.status);
    }
  }
}

/**
 * A user-id factory for one test file: every id it hands out, every id given to `track`, and any
 * `extra` id has its sessions deleted after the file's tests.
 */
export function testUsers(...extra: string[]) {
  const users: string[] = [...extra];
  afterAll(async () => {
    await cleanup(...users);
  });
  const track = (id: string) => {
    users.push(id);
    return id;
  };
  return Object.assign((prefix?: string) => track(uniqueUser(prefix)), { track });
}

/** A time `ms` from now, as the API writes times. */
export const fromNow = (ms: number) => new Date(Date.now() + ms).toISOString();
