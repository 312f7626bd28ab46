import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { SessionLimitReached, TokenAlreadyRegistered } from "../../functions/shared/errors.ts";
import { type LifecycleSettings, lifecycleSettings } from "../../functions/shared/lifecycle-settings.ts";
import * as store from "../../functions/shared/store/index.ts";

// The lifecycle rules of the store (CONTRACT section 8) against a mocked client: the touch, the
// per-user cap's transaction, and the settings' validation.

const ddb = mockClient(DynamoDBDocumentClient);
afterEach(() => ddb.reset());

const meta = { $metadata: {} };
const later = "2030-01-02T00:00:00.000Z";
const settings = (overrides: Partial<LifecycleSettings> = {}): LifecycleSettings => ({
  idleSeconds: 600,
  touchSeconds: 60,
  maxPerUser: 0,
  limitPolicy: "evict_oldest",
  ...overrides,
});

let counter = 0;
function session(overrides: Partial<store.Session> = {}): store.Session {
  return {
    id: `s${counter++}`,
    userId: "alice",
    createdAt: "2030-01-01T00:00:00.000Z",
    updatedAt: "2030-01-01T00:00:00.000Z",
    expiresAt: later,
    isActive: true,
    deactivatedAt: null,
    ipAddress: null,
    userAgent: null,
    profile: null,
    lastActiveAt: "2030-01-01T00:00:00.000Z",
    idleExpiresAt: "2030-01-01T00:10:00.000Z",
    ...overrides,
  };
}

describe("recordUse (the idle clock's touch)", () => {
  it("writes lastActiveAt, the new idle window and the earlier clock as TTL, conditioned on live and the interval", async () => {
    ddb.on(UpdateCommand).resolves({});
    const now = new Date("2030-01-01T00:05:00.000Z");
    const used = await store.recordUse(session(), now, settings());

    const input = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.UpdateExpression).toBe(
      "SET #lastActiveAt = :lastActiveAt, #ttl = :ttl, #idleExpiresAt = :idleExpiresAt",
    );
    expect(input?.ConditionExpression).toContain("attribute_exists(#userId)");
    expect(input?.ConditionExpression).toContain("#idleExpiresAt > :now");
    expect(input?.ConditionExpression).toContain("#lastActiveAt <= :threshold");
    expect(input?.ExpressionAttributeValues).toMatchObject({
      ":lastActiveAt": "2030-01-01T00:05:00.000Z",
      ":idleExpiresAt": "2030-01-01T00:15:00.000Z",
      ":threshold": "2030-01-01T00:04:00.000Z",
      ":ttl": Date.parse("2030-01-01T00:15:00.000Z") / 1000,
    });
    expect(input?.UpdateExpression).not.toContain("updatedAt");
    expect(used).toMatchObject({
      lastActiveAt: "2030-01-01T00:05:00.000Z",
      idleExpiresAt: "2030-01-01T00:15:00.000Z",
    });
  });

  it("a burst of 100 uses within one interval costs one write", async () => {
    ddb.on(UpdateCommand).resolves({});
    const s = session();
    const now = new Date("2030-01-01T00:05:00.000Z");
    // 50 in flight at once, then 50 more one after the other from what the first answered.
    const concurrent = await Promise.all(
      Array.from({ length: 50 }, () => store.recordUse(s, now, settings())),
    );
    let latest = concurrent.find((x) => x.lastActiveAt !== s.lastActiveAt) ?? s;
    for (let i = 1; i <= 50; i++) {
      latest = await store.recordUse(latest, new Date(now.getTime() + i * 100), settings());
    }
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(1);
    // The next interval writes again.
    await store.recordUse(latest, new Date(now.getTime() + 61_000), settings());
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(2);
  });

  it("writes nothing while the last use is inside the interval", async () => {
    await store.recordUse(
      session({ lastActiveAt: "2030-01-01T00:04:30.000Z" }),
      new Date("2030-01-01T00:05:00.000Z"),
      settings(),
    );
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it("never fails the request: a failed condition or a store error leaves the session as read", async () => {
    const s = session();
    ddb
      .on(UpdateCommand)
      .rejects(Object.assign(new Error("gone"), { name: "ConditionalCheckFailedException" }));
    expect(await store.recordUse(s, new Date("2030-01-01T00:05:00.000Z"), settings())).toBe(s);
    const t = session();
    ddb.on(UpdateCommand).rejects(Object.assign(new Error("slow"), { name: "ThrottlingException" }));
    expect(await store.recordUse(t, new Date("2030-01-01T00:05:00.000Z"), settings())).toBe(t);
  });

  it("with the idle clock off, records use and drops a window left by an earlier setting", async () => {
    ddb.on(UpdateCommand).resolves({});
    await store.recordUse(session(), new Date("2030-01-01T00:05:00.000Z"), settings({ idleSeconds: 0 }));
    const input = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.UpdateExpression).toBe(
      "SET #lastActiveAt = :lastActiveAt, #ttl = :ttl REMOVE #idleExpiresAt",
    );
    expect(input?.ExpressionAttributeValues?.[":ttl"]).toBe(Date.parse(later) / 1000);
  });
});

const newSession = (tokenDigest: string | null = null) => ({
  id: "new",
  userId: "alice",
  createdAt: new Date(),
  expiresAt: new Date(Date.now() + 86_400_000),
  ipAddress: null,
  userAgent: null,
  profile: null,
  tokenDigest,
});

function liveItem(id: string, createdAt: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    userId: "alice",
    feed: "all",
    createdAt,
    updatedAt: createdAt,
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    ttl: 0,
    isActive: true,
    ...extra,
  };
}

describe("createSession under a per-user cap", () => {
  const capped = (policy: LifecycleSettings["limitPolicy"]) =>
    settings({ maxPerUser: 2, limitPolicy: policy });
  const userItem = {
    id: "user#alice",
    version: 7,
    sessions: [{ id: "a" }, { id: "b" }, { id: "c" }],
    ttl: 0,
  };

  function withUserAndSessions() {
    ddb.on(GetCommand, { Key: { id: "user#alice" } }).resolves({ Item: userItem });
    ddb
      .on(GetCommand, { Key: { id: "a" } })
      .resolves({ Item: liveItem("a", "2030-01-01T00:00:01.000Z", { tokenDigest: "aa" }) });
    ddb.on(GetCommand, { Key: { id: "b" } }).resolves({ Item: liveItem("b", "2030-01-01T00:00:02.000Z") });
    // c was deactivated: it does not count and stays out of the cap item.
    ddb
      .on(GetCommand, { Key: { id: "c" } })
      .resolves({ Item: liveItem("c", "2030-01-01T00:00:03.000Z", { isActive: false }) });
  }

  it("evict_oldest: one transaction writes the cap item under its version, the session, and ends the oldest live session with its token", async () => {
    withUserAndSessions();
    ddb.on(TransactWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    await store.createSession(newSession(), capped("evict_oldest"));

    const parts = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(parts[0]?.Put?.Item).toMatchObject({
      id: "user#alice",
      version: 8,
      sessions: [{ id: "b" }, { id: "new" }],
    });
    expect(parts[0]?.Put?.ConditionExpression).toBe("#version = :version");
    expect(parts[0]?.Put?.ExpressionAttributeValues).toEqual({ ":version": 7 });
    expect(parts[1]?.Put?.Item).toMatchObject({ id: "new", userId: "alice" });
    expect(parts[2]?.Update?.Key).toEqual({ id: "a" });
    expect(parts[2]?.Update?.ExpressionAttributeValues?.[":ended"]).toMatchObject({
      reason: "limit",
      actor: { type: "system" },
    });
    expect(parts[3]?.Delete?.Key).toEqual({ id: "token#aa" });
    expect(parts).toHaveLength(4);
  });

  it("deny_new: at the cap, SessionLimitReached and no write", async () => {
    withUserAndSessions();
    await expect(store.createSession(newSession(), capped("deny_new"))).rejects.toBeInstanceOf(
      SessionLimitReached,
    );
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it("a registered token's 409 comes before the cap's", async () => {
    withUserAndSessions();
    ddb
      .on(GetCommand, { Key: { id: "token#dd" } })
      .resolves({ Item: { id: "token#dd", sessionId: "a", expiresAt: later } });
    ddb
      .on(GetCommand, { Key: { id: "a" } })
      .resolves({ Item: liveItem("a", "2030-01-01T00:00:01.000Z", { tokenDigest: "dd" }) });
    await expect(store.createSession(newSession("dd"), capped("deny_new"))).rejects.toBeInstanceOf(
      TokenAlreadyRegistered,
    );
  });

  it("a lost version race reads the cap item again and decides from the new state", async () => {
    ddb
      .on(GetCommand, { Key: { id: "user#alice" } })
      .resolvesOnce({ Item: { id: "user#alice", version: 1, sessions: [{ id: "a" }], ttl: 0 } })
      .resolves({ Item: { id: "user#alice", version: 2, sessions: [{ id: "a" }, { id: "b" }], ttl: 0 } });
    ddb.on(GetCommand, { Key: { id: "a" } }).resolves({ Item: liveItem("a", "2030-01-01T00:00:01.000Z") });
    ddb.on(GetCommand, { Key: { id: "b" } }).resolves({ Item: liveItem("b", "2030-01-01T00:00:02.000Z") });
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: "cancelled",
        ...meta,
        CancellationReasons: [{ Code: "ConditionalCheckFailed" }, { Code: "None" }],
      }),
    );
    await expect(store.createSession(newSession(), capped("deny_new"))).rejects.toBeInstanceOf(
      SessionLimitReached,
    );
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it("a user without a cap item is counted from the user index, each candidate confirmed by a consistent read", async () => {
    ddb.on(GetCommand, { Key: { id: "user#alice" } }).resolves({});
    ddb.on(QueryCommand).resolves({ Items: [{ id: "a" }, { id: "b" }] });
    ddb.on(GetCommand, { Key: { id: "a" } }).resolves({ Item: liveItem("a", "2030-01-01T00:00:01.000Z") });
    ddb.on(GetCommand, { Key: { id: "b" } }).resolves({ Item: liveItem("b", "2030-01-01T00:00:02.000Z") });
    ddb.on(TransactWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    await store.createSession(newSession(), capped("evict_oldest"));
    const parts = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(parts[0]?.Put?.ConditionExpression).toBe("attribute_not_exists(#id)");
    expect(parts[2]?.Update?.Key).toEqual({ id: "a" });
    for (const call of ddb.commandCalls(GetCommand)) expect(call.args[0].input.ConsistentRead).toBe(true);
  });
});

describe("lifecycleSettings", () => {
  const from = (env: Record<string, string>) => () => lifecycleSettings((name) => env[name]);

  it("has the contract's defaults", () => {
    expect(from({})()).toEqual({
      idleSeconds: 0,
      touchSeconds: 60,
      maxPerUser: 0,
      limitPolicy: "evict_oldest",
    });
  });

  it.each([
    [{ SESSION_IDLE_SECONDS: "-1" }, "SESSION_IDLE_SECONDS"],
    [{ SESSION_IDLE_SECONDS: "6", SESSION_TOUCH_SECONDS: "4" }, "at least twice SESSION_TOUCH_SECONDS"],
    [{ SESSION_IDLE_SECONDS: "100" }, "at least twice SESSION_TOUCH_SECONDS (60)"],
    [{ SESSION_TOUCH_SECONDS: "0" }, "SESSION_TOUCH_SECONDS"],
    [{ SESSION_TOUCH_SECONDS: "1.5" }, "SESSION_TOUCH_SECONDS"],
    [{ SESSION_MAX_PER_USER: "-3" }, "SESSION_MAX_PER_USER"],
    [{ SESSION_MAX_PER_USER: "three" }, "SESSION_MAX_PER_USER"],
    [{ SESSION_LIMIT_POLICY: "evict_newest" }, "SESSION_LIMIT_POLICY must be one of evict_oldest, deny_new"],
  ])("refuses %j in one line naming the setting", (env, message) => {
    expect(from(env)).toThrow(message);
    try {
      from(env)();
    } catch (error) {
      expect((error as Error).message).not.toContain("\n");
    }
  });

  it("accepts the configurations the README documents", () => {
    expect(from({ SESSION_IDLE_SECONDS: "6", SESSION_TOUCH_SECONDS: "1" })()).toMatchObject({
      idleSeconds: 6,
      touchSeconds: 1,
    });
    expect(from({ SESSION_MAX_PER_USER: "3", SESSION_LIMIT_POLICY: "deny_new" })()).toMatchObject({
      maxPerUser: 3,
      limitPolicy: "deny_new",
    });
  });
});
