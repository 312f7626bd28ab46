import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { localClient } from "../../lib/dynamodb-local.ts";
import { signToken } from "../support/api.ts";
import {
  type LifecycleRunner,
  opaqueToken,
  startLifecycleRunner,
  until,
  usable,
} from "./lifecycle-support.ts";

// The per-user cap of CONTRACT section 8 on runners with SESSION_MAX_PER_USER=3, for each policy:
// concurrent creates never leave more than the cap usable, deactivated and expired sessions do not
// count, and a registered token's 409 wins.

const CAP = 3;
const PARALLEL = 20;
let evict: LifecycleRunner;
let deny: LifecycleRunner;
// A second runner on each table: creates for one user from two processes, as from two Lambda
// function instances, where only the cap item's version condition keeps them apart (one process
// queues a user's capped creates).
let evict2: LifecycleRunner;
let deny2: LifecycleRunner;
let db: DynamoDBDocumentClient;

const evictEnv = { SESSION_MAX_PER_USER: String(CAP) };
const denyEnv = { SESSION_MAX_PER_USER: String(CAP), SESSION_LIMIT_POLICY: "deny_new" };

beforeAll(async () => {
  [evict, deny] = await Promise.all([
    startLifecycleRunner("sessions-cap-evict", evictEnv),
    startLifecycleRunner("sessions-cap-deny", denyEnv),
  ]);
  [evict2, deny2] = await Promise.all([
    startLifecycleRunner("sessions-cap-evict", evictEnv),
    startLifecycleRunner("sessions-cap-deny", denyEnv),
  ]);
  db = DynamoDBDocumentClient.from(localClient(inject("dynamoEndpoint")));
}, 180_000);
afterAll(async () => {
  await Promise.all([evict, deny, evict2, deny2].map((r) => r?.runner.stop()));
  db?.destroy();
});

const uniqueUser = (prefix: string) =>
  `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

/** PARALLEL creates for one user at once, alternating between the two runners of a table. */
async function parallelCreates(runners: LifecycleRunner[], userId: string) {
  const tokens = Array.from({ length: PARALLEL }, () => opaqueToken());
  const responses = await Promise.all(
    tokens.map((token, i) => (runners[i % runners.length] as LifecycleRunner).create(userId, { token })),
  );
  return responses.map((response, i) => ({ response, token: tokens[i] as string }));
}

const adminList = async (r: LifecycleRunner, userId: string) =>
  (await r.call(`/sessions/user/${userId}?limit=100`, { token: r.admin })).body as any[];

describe("SESSION_LIMIT_POLICY=deny_new", () => {
  it(`${PARALLEL} parallel creates at cap ${CAP} from two processes: exactly ${CAP} answer 201, the others 409 SESSION_LIMIT_REACHED`, async () => {
    const userId = uniqueUser("deny");
    const results = await parallelCreates([deny, deny2], userId);
    const created = results.filter(({ response }) => response.status === 201);
    const refused = results.filter(({ response }) => response.status === 409);
    expect(created).toHaveLength(CAP);
    expect(refused).toHaveLength(PARALLEL - CAP);
    for (const { response } of refused) {
      expect(response.body).toEqual({
        detail: `This user already has the maximum of ${CAP} live sessions`,
        code: "SESSION_LIMIT_REACHED",
      });
    }
    for (const { token, response } of created) {
      expect(await usable(deny, token)).toBe(true);
      expect(await usable(deny, response.body.access_token)).toBe(true);
    }
    expect((await adminList(deny, userId)).map((s) => s.id).sort()).toEqual(
      created.map(({ response }) => response.body.id).sort(),
    );
  });

  it("deactivated sessions do not count", async () => {
    const userId = uniqueUser("deny");
    const sessions: any[] = [];
    for (let i = 0; i < CAP; i++) sessions.push((await deny.create(userId)).body);
    expect((await deny.create(userId)).status).toBe(409);
    const first = sessions[0];
    const deactivated = await deny.call(`/api/sessions/${first.id}/deactivate`, {
      method: "PATCH",
      token: first.access_token,
    });
    expect(deactivated.status).toBe(200);
    const next = await deny.create(userId);
    expect(next.status, next.text).toBe(201);
    expect((await deny.create(userId)).status).toBe(409);
  });

  it("expired sessions do not count", async () => {
    const userId = uniqueUser("deny");
    const soon = new Date(Date.now() + 2_000).toISOString();
    const short: any[] = [];
    for (let i = 0; i < CAP; i++) short.push((await deny.create(userId, { expires_at: soon })).body);
    expect((await deny.create(userId)).status).toBe(409);
    await until(
      "the short sessions expire",
      async () => (await deny.call(`/sessions/${short[0].id}`, { token: deny.admin })).status === 404,
    );
    for (let i = 0; i < CAP; i++) expect((await deny.create(userId)).status).toBe(201);
    expect((await deny.create(userId)).status).toBe(409);
  });

  it("a token already registered answers its own 409 first, even at the cap", async () => {
    const userId = uniqueUser("deny");
    const token = opaqueToken();
    expect((await deny.create(userId, { token })).status).toBe(201);
    for (let i = 1; i < CAP; i++) expect((await deny.create(userId)).status).toBe(201);
    const again = await deny.create(userId, { token });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("TOKEN_CONFLICT");
  });
});

describe("SESSION_LIMIT_POLICY=evict_oldest (the default)", () => {
  it(`${PARALLEL} parallel creates at cap ${CAP} from two processes: every one answers 201 and exactly the ${CAP} newest stay usable`, async () => {
    const userId = uniqueUser("evict");
    const results = await parallelCreates([evict, evict2], userId);
    expect(results.map(({ response }) => response.status)).toEqual(Array(PARALLEL).fill(201));

    const alive: any[] = [];
    for (const { token, response } of results) {
      const byToken = await usable(evict, token);
      expect(await usable(evict, response.body.access_token)).toBe(byToken);
      if (byToken) alive.push(response.body);
    }
    expect(alive).toHaveLength(CAP);
    const newest = results
      .map(({ response }) => response.body)
      .sort((a, b) => (a.created_at < b.created_at ? 1 : -1))
      .slice(0, CAP);
    expect(alive.map((s) => s.id).sort()).toEqual(newest.map((s) => s.id).sort());
    expect((await adminList(evict, userId)).map((s) => s.id).sort()).toEqual(alive.map((s) => s.id).sort());

    // Evicted sessions' items and token items are gone: the tokens are free again (the cap evicts anew).
    const evicted = results.find(({ response }) => !alive.some((s) => s.id === response.body.id));
    expect((await evict.create(userId, { token: evicted?.token })).status).toBe(201);
  });

  it("a create beyond the cap ends the oldest live session and its tokens at once", async () => {
    const userId = uniqueUser("evict");
    const token = opaqueToken();
    const oldest = (await evict.create(userId, { token })).body;
    for (let i = 1; i < CAP; i++) expect((await evict.create(userId)).status).toBe(201);
    expect(await usable(evict, token)).toBe(true);

    expect((await evict.create(userId)).status).toBe(201);
    expect(await usable(evict, token)).toBe(false);
    expect(await usable(evict, oldest.access_token)).toBe(false);
    expect((await evict.call(`/sessions/${oldest.id}`, { token: evict.admin })).status).toBe(404);
    expect(await adminList(evict, userId)).toHaveLength(CAP);
    const { Item } = await db.send(
      new GetCommand({ TableName: "sessions-cap-evict", Key: { id: oldest.id }, ConsistentRead: true }),
    );
    expect(Item).toBeUndefined();
  });

  it("a deactivated session does not count and is not the one evicted", async () => {
    const userId = uniqueUser("evict");
    const sessions: any[] = [];
    for (let i = 0; i < CAP; i++) sessions.push((await evict.create(userId)).body);
    const plain = await signToken({ sub: userId });
    expect(
      (await evict.call(`/api/sessions/${sessions[1].id}/deactivate`, { method: "PATCH", token: plain }))
        .status,
    ).toBe(200);
    // Two live sessions and a deactivated one: the next create fits without evicting anything.
    expect((await evict.create(userId)).status).toBe(201);
    expect(await usable(evict, sessions[0].access_token)).toBe(true);
    expect(await usable(evict, sessions[2].access_token)).toBe(true);
  });
});
