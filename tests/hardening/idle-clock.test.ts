import { DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { localClient } from "../../lib/dynamodb-local.ts";
import { signToken } from "../support/api.ts";
import {
  type LifecycleRunner,
  opaqueToken,
  sleep,
  startLifecycleRunner,
  until,
  usable,
} from "./lifecycle-support.ts";

// The two clocks of CONTRACT section 8 on a runner with SESSION_IDLE_SECONDS=6 and
// SESSION_TOUCH_SECONDS=1. Clock-based cases poll with deadlines; nothing asserts how fast anything is.

const IDLE_MS = 6_000;
const TABLE = "sessions-idle";
let r: LifecycleRunner;
let db: DynamoDBDocumentClient;

beforeAll(async () => {
  r = await startLifecycleRunner(TABLE, { SESSION_IDLE_SECONDS: "6", SESSION_TOUCH_SECONDS: "1" });
  db = DynamoDBDocumentClient.from(localClient(inject("dynamoEndpoint")));
}, 90_000);
afterAll(async () => {
  await r?.runner.stop();
  db?.destroy();
});

/**
 * Moves a session's TTL a day ahead, as DynamoDB's sweeper may lag on AWS: DynamoDB Local's sweeper
 * acts within seconds, and a session it deleted would hide whether the readers judge the idle clock.
 */
const holdOffSweeper = (id: string) =>
  db.send(
    new UpdateCommand({
      TableName: TABLE,
      Key: { id },
      UpdateExpression: "SET #ttl = :ttl",
      ExpressionAttributeNames: { "#ttl": "ttl" },
      ExpressionAttributeValues: { ":ttl": Math.ceil(Date.now() / 1000) + 86_400 },
    }),
  );

const uniqueUser = () =>
  `idle-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
const adminGet = (id: string) => r.call(`/sessions/${id}`, { token: r.admin });

describe("idle expiry", () => {
  it("a new session carries last_active_at = created_at and idle_expires_at = created_at + idle", async () => {
    const created = await r.create(uniqueUser());
    expect(created.status).toBe(201);
    expect(created.body.last_active_at).toBe(created.body.created_at);
    expect(Date.parse(created.body.idle_expires_at) - Date.parse(created.body.created_at)).toBe(IDLE_MS);
  });

  it("use keeps a session alive past its idle window; each use moves last_active_at, never updated_at", async () => {
    const token = opaqueToken();
    const created = (await r.create(uniqueUser(), { token })).body;
    const firstWindowEnd = Date.parse(created.idle_expires_at);
    // Uses 2 s apart (within the 6 s window) until well past the first window's end.
    let lastUse = 0;
    for (let credential = 0; Date.now() < firstWindowEnd + 4_000; credential++) {
      expect(await usable(r, credential % 2 ? created.access_token : token), `use ${credential}`).toBe(true);
      lastUse = Date.now();
      await sleep(2_000);
    }
    const current = await r.call("/api/sessions/current", { token });
    expect(current.status).toBe(200);
    const data = current.body.data;
    expect(Date.parse(data.idle_expires_at)).toBeGreaterThan(firstWindowEnd);
    expect(Date.parse(data.idle_expires_at) - Date.parse(data.last_active_at)).toBe(IDLE_MS);
    expect(data.updated_at).toBe(created.updated_at);
    expect(lastUse).toBeGreaterThan(firstWindowEnd);
  });

  it("without use a session ends by the idle clock for every reader and every token, and its token can be registered again", async () => {
    const userId = uniqueUser();
    const token = opaqueToken();
    const created = (await r.create(userId, { token })).body;
    await holdOffSweeper(created.id);
    const idleEnd = Date.parse(created.idle_expires_at);
    // Admin reads are not a use of the session: poll with them.
    await until("the idle clock ends the session", async () => (await adminGet(created.id)).status === 404);
    expect(Date.now()).toBeGreaterThanOrEqual(idleEnd);

    expect(await usable(r, token)).toBe(false);
    expect(await usable(r, created.access_token)).toBe(false);
    const list = await r.call(`/sessions/user/${userId}`, { token: r.admin });
    expect(list.body).toEqual([]);
    expect((await r.call(`/sessions/user/${userId}/last`, { token: r.admin })).status).toBe(404);
    const all = await r.call("/sessions?limit=100", { token: r.admin });
    expect(all.body.map((s: any) => s.id)).not.toContain(created.id);
    const mine = await r.call("/api/sessions", { token: await signToken({ sub: userId }) });
    expect(mine.body.data).toEqual([]);
    const introspected = await r.call("/sessions/introspect", {
      method: "POST",
      token: r.admin,
      body: { token },
    });
    expect(introspected.body).toEqual({ active: false });
    const userJwt = await signToken({ sub: userId });
    expect((await r.call(`/api/sessions/${created.id}`, { method: "DELETE", token: userJwt })).status).toBe(
      404,
    );
    expect(
      (await r.call(`/api/sessions/${created.id}/deactivate`, { method: "PATCH", token: userJwt })).status,
    ).toBe(404);
    expect((await r.call(`/sessions/${created.id}`, { method: "DELETE", token: r.admin })).status).toBe(404);

    // The token item keeps the absolute expiry, yet the token is free once its session ended by idleness.
    const again = await r.create(userId, { token });
    expect(again.status, again.text).toBe(201);
    expect(await usable(r, token)).toBe(true);
  });

  it("a deactivated session ends by the idle clock too (it is never used again)", async () => {
    const created = (await r.create(uniqueUser())).body;
    await holdOffSweeper(created.id);
    const deactivate = await r.call(`/api/sessions/${created.id}/deactivate`, {
      method: "PATCH",
      token: created.access_token,
    });
    expect(deactivate.status).toBe(200);
    expect((await adminGet(created.id)).body.is_active).toBe(false);
    await until(
      "the idle clock ends the deactivated session",
      async () => (await adminGet(created.id)).status === 404,
    );
  });

  it("the absolute clock ends a session in constant use", async () => {
    const token = opaqueToken();
    const expiresAt = new Date(Date.now() + 9_000).toISOString();
    const created = (await r.create(uniqueUser(), { token, expires_at: expiresAt })).body;
    let aliveAfterIdleWindow = false;
    await until(
      "the absolute expiry ends the session",
      async () => {
        const alive = await usable(r, token);
        if (alive && Date.now() > Date.parse(created.created_at) + IDLE_MS + 500) aliveAfterIdleWindow = true;
        return !alive;
      },
      30_000,
      700,
    );
    // Use kept it past its first idle window; only the absolute clock ended it.
    expect(aliveAfterIdleWindow).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt));
    expect(await usable(r, created.access_token)).toBe(false);
  });

  it("introspection is never a use; a request with the session's credential is", async () => {
    const token = opaqueToken();
    const created = (await r.create(uniqueUser(), { token })).body;
    await sleep(1_500); // past one touch interval, so a use would be written
    for (const body of [{ token }, { token: created.access_token }]) {
      const response = await r.call("/sessions/introspect", { method: "POST", token: r.admin, body });
      expect(response.body).toMatchObject({ active: true, sid: created.id });
      expect(response.body.exp).toBe(Math.floor(Date.parse(created.idle_expires_at) / 1000));
    }
    const form = await r.call("/sessions/introspect", {
      method: "POST",
      token: r.admin,
      rawBody: `token=${encodeURIComponent(token)}`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.body.active).toBe(true);
    expect((await adminGet(created.id)).body.last_active_at).toBe(created.created_at);

    expect(await usable(r, token)).toBe(true);
    const after = (await adminGet(created.id)).body;
    expect(after.last_active_at > created.created_at).toBe(true);
    expect(after.updated_at).toBe(created.updated_at);
  });
});
