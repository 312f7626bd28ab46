import { BatchWriteCommand, DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { afterAll, describe, expect, inject, it } from "vitest";
import { localClient } from "../../lib/dynamodb-local.ts";
import { feedOf } from "../../lib/table.ts";
import { table, userToken } from "../support/api.ts";
import { call } from "../support/openapi.ts";
import {
  admin$,
  adminListOf,
  createFor,
  digest,
  fromNow,
  newOpaqueToken,
  nextLink,
  plantExpired,
  testUsers,
} from "../support/sessions.ts";

// How sessions end (every delete, one or all), and reads that stay bounded over what has not yet
// been swept: the rules of CONTRACT sections 3, 4 and 5.

const user = testUsers();
const bulkIds: string[] = [];
const db = DynamoDBDocumentClient.from(localClient(inject("dynamoEndpoint")));
const TableName = inject("tableName");

afterAll(async () => {
  await writeBatches(bulkIds.map((id) => ({ DeleteRequest: { Key: { id } } })));
  db.destroy();
});

async function writeBatches(requests: Record<string, unknown>[]) {
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < requests.length; i += 25) batches.push(requests.slice(i, i + 25));
  for (let i = 0; i < batches.length; i += 8) {
    await Promise.all(
      batches
        .slice(i, i + 8)
        .map((batch) => db.send(new BatchWriteCommand({ RequestItems: { [TableName]: batch } }))),
    );
  }
}

/** `count` sessions of `userId` in the store's item layout, created between `from` and `from + count` ms. */
async function plantMany(
  userId: string,
  count: number,
  options: { from: number; expiresAt: string; prefix: string },
) {
  const ids: string[] = [];
  const requests = Array.from({ length: count }, (_, i) => {
    const id = `${options.prefix}${i.toString().padStart(5, "0")}-${userId.length}${Date.now().toString(36)}`;
    ids.push(id);
    const createdAt = new Date(options.from + i).toISOString();
    return {
      PutRequest: {
        Item: {
          id,
          userId,
          feed: feedOf(id),
          createdAt,
          updatedAt: createdAt,
          expiresAt: options.expiresAt,
          // A day past the expiry: DynamoDB Local's sweeper must not remove them during the test.
          ttl: Math.ceil(Date.parse(options.expiresAt) / 1000) + 86_400,
          isActive: true,
        },
      },
    };
  });
  bulkIds.push(...ids);
  await writeBatches(requests);
  return ids;
}

describe("ending a session", () => {
  it("a user's delete-all never touches a token registered again by another user", async () => {
    const [u, v] = [user("old-owner"), user("new-owner")];
    const token = newOpaqueToken();
    // U's session holding the token has expired, and the sweeper has not removed it yet.
    const expired = await plantExpired(u, { tokenDigest: digest(token) });
    const registered = await createFor(v, { token });
    expect(registered.token).toBe(token);

    const all = await call("/api/sessions", { method: "DELETE", token: await userToken(u) });
    expect(all.status).toBe(200);
    const one = await call(`/api/sessions/${expired.id}`, { method: "DELETE", token: await userToken(u) });
    expect(one.status).toBe(404);
    const byAdmin = await call(`/sessions/${expired.id}`, { method: "DELETE", token: await admin$() });
    expect(byAdmin.status).toBe(404);

    const mine = await call("/api/sessions", { token });
    expect(mine.status).toBe(200);
    expect(mine.body.data.map((s: any) => s.id)).toEqual([registered.id]);
    expect(await table().get(`token#${digest(token)}`)).toMatchObject({ sessionId: registered.id });
    await table().delete(expired.id);
  });

  it.each([
    ["the user's delete", "user-one"],
    ["the user's delete-all", "user-all"],
    ["the admin's delete", "admin-one"],
  ])("%s removes the token item with the session, so the token can be registered again", async (_, how) => {
    const owner = user(how);
    const token = newOpaqueToken();
    const session = await createFor(owner, { token });
    const request =
      how === "user-one"
        ? call(`/api/sessions/${session.id}`, { method: "DELETE", token })
        : how === "user-all"
          ? call("/api/sessions", { method: "DELETE", token })
          : call(`/sessions/${session.id}`, { method: "DELETE", token: await admin$() });
    expect((await request).status).toBe(200);

    expect(await table().get(session.id)).toBeUndefined();
    expect(await table().get(`token#${digest(token)}`)).toBeUndefined();
    expect((await call("/api/sessions", { token })).status).toBe(401);
    const again = await createFor(user(`${how}-again`), { token });
    expect((await call("/api/sessions", { token })).body.data.map((s: any) => s.id)).toEqual([again.id]);
  });

  it("refuses to register a token shaped like a JWT, and creates nothing", async () => {
    const owner = user("jwt-token");
    const admin = await admin$();
    for (const token of [await userToken(owner), (await createFor(user("other"))).access_token]) {
      const response = await call("/sessions", {
        method: "POST",
        token: admin,
        body: { userId: owner, token },
      });
      expect(response.status).toBe(400);
      expect(response.body.detail).toMatch(/token must be an opaque token/);
    }
    expect(await adminListOf(owner)).toEqual([]);
    // Dots alone do not make a JWT: the first part must decode to a JSON object.
    const dotted = "not.a.jwt-but-an-opaque-token";
    expect((await createFor(owner, { token: dotted })).token).toBe(dotted);
  });
});

describe("bounded reads over expired sessions the sweeper has not removed", () => {
  it("finds the last live session behind 10,000 newer expired ones", async () => {
    const owner = user("backlog");
    const live = await createFor(owner);
    await plantMany(owner, 10_000, {
      from: Date.parse(live.created_at) + 1,
      expiresAt: fromNow(-60_000),
      prefix: "exp",
    });
    const last = await call(`/sessions/user/${owner}/last`, { token: await admin$() });
    expect(last.status, last.text).toBe(200);
    expect(last.body.id).toBe(live.id);

    // A list page answers what it found within its budget, with a link to go on; following the
    // links reaches the live session.
    const pages = [];
    let next: string | undefined = `/sessions/user/${owner}?limit=5`;
    while (next) {
      const page = await call<any[]>(next, { token: await admin$() });
      expect(page.status, page.text).toBe(200);
      pages.push(page);
      next = nextLink(page);
      expect(pages.length).toBeLessThan(20);
    }
    expect(pages.flatMap((page) => page.body.map((s: any) => s.id))).toEqual([live.id]);
    expect(pages.length).toBeGreaterThan(1);
  }, 120_000);
});

describe("a user with many sessions", () => {
  it("reads them 100 at a time through cursors, and a delete-all of 2,000 finishes (retrying a 503)", async () => {
    const owner = user("many");
    const ids = await plantMany(owner, 2_000, {
      from: Date.now() - 10_000,
      expiresAt: fromNow(3_600_000),
      prefix: "live",
    });
    const withToken = await createFor(owner, { token: newOpaqueToken() });
    const token = await userToken(owner);

    const seen: string[] = [];
    let next: string | undefined = "/api/sessions";
    let pages = 0;
    while (next) {
      const page = await call(next, { token });
      expect(page.status, page.text).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(100);
      seen.push(...page.body.data.map((s: any) => s.id));
      next = nextLink(page);
      pages++;
    }
    expect(pages).toBe(21);
    expect(new Set(seen).size).toBe(2_001);
    expect(seen[0]).toBe(withToken.id);

    const statuses: number[] = [];
    for (let attempt = 0; attempt < 10 && statuses.at(-1) !== 200; attempt++) {
      const response = await call("/api/sessions", { method: "DELETE", token });
      statuses.push(response.status);
      if (response.status === 503) expect(response.headers.get("retry-after")).toMatch(/^\d+$/);
    }
    expect(statuses.at(-1), statuses.join(",")).toBe(200);
    expect(statuses.every((status) => status === 200 || status === 503)).toBe(true);
    expect(await adminListOf(owner)).toEqual([]);
    expect(await table().get(ids[0] as string)).toBeUndefined();
    expect(await table().get(`token#${digest(withToken.token)}`)).toBeUndefined();
  }, 180_000);
});
