import {
  ConditionalCheckFailedException,
  InternalServerError,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HttpError, SessionNotFound, TokenAlreadyRegistered } from "../../functions/shared/errors.ts";
import * as store from "../../functions/shared/store/index.ts";
import { MAX_BATCH, PAGE_BUDGET } from "../../functions/shared/store/query.ts";
import { feedOf } from "../../lib/table.ts";

const END_ALL_BUDGET_MS = store.END_ALL_BUDGET_MS;
const userEnd = (sub: string) => ({ reason: "user_all" as const, actor: { type: "user" as const, sub } });
const adminEnd = { reason: "admin" as const, actor: { type: "admin" as const, sub: "ops" } };

const ddb = mockClient(DynamoDBDocumentClient);
afterEach(() => ddb.reset());

const now = new Date("2030-01-01T00:00:00.000Z");
const later = "2030-01-02T00:00:00.000Z";
const earlier = "2029-12-31T00:00:00.000Z";
const meta = { $metadata: {} };

function item(id: string, overrides: Record<string, unknown> = {}) {
  return {
    id,
    userId: "alice",
    feed: "all",
    createdAt: "2029-12-31T12:00:00.000Z",
    updatedAt: "2029-12-31T12:00:00.000Z",
    expiresAt: later,
    ttl: Date.parse(later) / 1000,
    isActive: true,
    ...overrides,
  };
}

const newSession = (tokenDigest: string | null = null) => ({
  id: "s1",
  userId: "alice",
  createdAt: now,
  expiresAt: new Date("2030-01-01T10:00:00.123Z"),
  ipAddress: "192.0.2.1",
  userAgent: null,
  profile: { email: "a@example.test" },
  tokenDigest,
});

describe("createSession", () => {
  it("puts the item guarded by attribute_not_exists, with the TTL in whole seconds after the expiry", async () => {
    ddb.on(PutCommand).resolves({});
    const session = await store.createSession(newSession());

    const [call] = ddb.commandCalls(PutCommand);
    expect(call?.args[0].input).toEqual({
      TableName: "sessions-unit",
      Item: {
        id: "s1",
        userId: "alice",
        feed: feedOf("s1"),
        createdAt: "2030-01-01T00:00:00.000Z",
        updatedAt: "2030-01-01T00:00:00.000Z",
        expiresAt: "2030-01-01T10:00:00.123Z",
        ttl: Math.ceil(Date.parse("2030-01-01T10:00:00.123Z") / 1000),
        isActive: true,
        ipAddress: "192.0.2.1",
        userAgent: undefined,
        profile: '{"email":"a@example.test"}',
        tokenDigest: undefined,
        lastActiveAt: "2030-01-01T00:00:00.000Z",
        idleExpiresAt: undefined,
      },
      ConditionExpression: "attribute_not_exists(#id)",
      ExpressionAttributeNames: { "#id": "id" },
    });
    expect(session).toMatchObject({ id: "s1", isActive: true, deactivatedAt: null, userAgent: null });
  });

  it("takes a create whose retried attempt found its own item as written (the first attempt had landed)", async () => {
    ddb.on(PutCommand).rejects(new ConditionalCheckFailedException({ message: "exists", ...meta }));
    ddb.on(GetCommand).resolves({ Item: item("s1", { createdAt: now.toISOString() }) });
    expect((await store.createSession(newSession())).id).toBe("s1");

    ddb.on(GetCommand).resolves({ Item: item("s1", { userId: "mallory", createdAt: now.toISOString() }) });
    await expect(store.createSession(newSession())).rejects.toBeInstanceOf(ConditionalCheckFailedException);
  });

  it("registers a supplied token's digest in the same transaction", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    await store.createSession(newSession("ab".repeat(32)));

    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items).toHaveLength(2);
    expect(items[1]?.Put?.Item).toEqual({
      id: `token#${"ab".repeat(32)}`,
      sessionId: "s1",
      expiresAt: "2030-01-01T10:00:00.123Z",
      ttl: Math.ceil(Date.parse("2030-01-01T10:00:00.123Z") / 1000),
    });
    expect(items[1]?.Put?.ConditionExpression).toBe("attribute_not_exists(#id) OR #expiresAt <= :now");
  });

  it("reports a token already registered to a live session", async () => {
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: "cancelled",
        ...meta,
        CancellationReasons: [{ Code: "None" }, { Code: "ConditionalCheckFailed" }],
      }),
    );
    // Whether the token's holder has ended is read consistently: here it is live.
    ddb
      .on(GetCommand, { Key: { id: `token#${"cd".repeat(32)}` } })
      .resolves({ Item: { id: `token#${"cd".repeat(32)}`, sessionId: "s0", expiresAt: later } });
    ddb
      .on(GetCommand, { Key: { id: "s0" } })
      .resolves({ Item: item("s0", { tokenDigest: "cd".repeat(32) }) });
    await expect(store.createSession(newSession("cd".repeat(32)))).rejects.toBeInstanceOf(
      TokenAlreadyRegistered,
    );
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });
});

describe("reads", () => {
  it("getSession reads strongly consistent and hides an expired, unswept item", async () => {
    ddb.on(GetCommand).resolves({ Item: item("s1", { expiresAt: earlier }) });
    expect(await store.getSession("s1", now)).toBeUndefined();
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input.ConsistentRead).toBe(true);
  });

  it("getSession never returns a registered-token item as a session", async () => {
    ddb.on(GetCommand).resolves({ Item: { id: "token#x", sessionId: "s1", expiresAt: later } });
    expect(await store.getSession("token#x", now)).toBeUndefined();
  });

  it("findSessionByToken needs the token item and a live session holding the same digest", async () => {
    const digest = "ef".repeat(32);
    ddb
      .on(GetCommand, { Key: { id: `token#${digest}` } })
      .resolves({ Item: { id: `token#${digest}`, sessionId: "s1", expiresAt: later } });
    ddb.on(GetCommand, { Key: { id: "s1" } }).resolves({ Item: item("s1", { tokenDigest: digest }) });
    expect((await store.findSessionByToken(digest, now))?.id).toBe("s1");

    ddb.on(GetCommand, { Key: { id: "s1" } }).resolves({ Item: item("s1", { tokenDigest: "other" }) });
    expect(await store.findSessionByToken(digest, now)).toBeUndefined();
    expect(ddb.commandCalls(GetCommand).every((c) => c.args[0].input.ConsistentRead === true)).toBe(true);
  });

  it("findSessionByToken decides a repeated token by one consistent read of the session it opened", async () => {
    const digest = "ab".repeat(32);
    ddb
      .on(GetCommand, { Key: { id: `token#${digest}` } })
      .resolves({ Item: { id: `token#${digest}`, sessionId: "k1", expiresAt: later } });
    ddb.on(GetCommand, { Key: { id: "k1" } }).resolves({ Item: item("k1", { tokenDigest: digest }) });
    expect((await store.findSessionByToken(digest, now))?.id).toBe("k1");
    expect(ddb.commandCalls(GetCommand)).toHaveLength(2);

    ddb.resetHistory();
    ddb.on(GetCommand, { Key: { id: "k1" } }).resolves({
      Item: item("k1", { tokenDigest: digest, isActive: false, deactivatedAt: earlier }),
    });
    const again = await store.findSessionByToken(digest, now);
    expect(again).toMatchObject({ id: "k1", isActive: false });
    const reads = ddb.commandCalls(GetCommand).map((c) => c.args[0].input);
    expect(reads).toEqual([{ TableName: "sessions-unit", Key: { id: "k1" }, ConsistentRead: true }]);
  });

  it("findSessionByToken reads the token item again once the session it opened is gone", async () => {
    const digest = "cd".repeat(32);
    const tokenItem = (sessionId: string) => ({
      Item: { id: `token#${digest}`, sessionId, expiresAt: later },
    });
    ddb.on(GetCommand, { Key: { id: `token#${digest}` } }).resolves(tokenItem("old"));
    ddb.on(GetCommand, { Key: { id: "old" } }).resolves({ Item: item("old", { tokenDigest: digest }) });
    expect((await store.findSessionByToken(digest, now))?.id).toBe("old");

    // The first session was deleted (both items), and the same token registered to a new one.
    ddb.on(GetCommand, { Key: { id: "old" } }).resolves({});
    ddb.on(GetCommand, { Key: { id: `token#${digest}` } }).resolves(tokenItem("new"));
    ddb.on(GetCommand, { Key: { id: "new" } }).resolves({ Item: item("new", { tokenDigest: digest }) });
    expect((await store.findSessionByToken(digest, now))?.id).toBe("new");

    // Gone for good: no session, no token item.
    ddb.on(GetCommand, { Key: { id: "new" } }).resolves({});
    ddb.on(GetCommand, { Key: { id: `token#${digest}` } }).resolves({});
    expect(await store.findSessionByToken(digest, now)).toBeUndefined();
  });

  it("pages newest first, filters expiry and ended items in the query and reads one extra item to know a next page exists", async () => {
    ddb
      .on(QueryCommand)
      .resolves({ Items: [item("a"), item("b"), item("c")], ScannedCount: 3, LastEvaluatedKey: { id: "c" } });
    const page = await store.listUserSessions("alice", { limit: 2, offset: 0 }, now);

    const input = ddb.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      IndexName: "byUser",
      ScanIndexForward: false,
      Limit: 3,
      FilterExpression: unexpired,
      ExpressionAttributeValues: { ":pk": "alice", ":now": now.toISOString() },
    });
    expect(page.items.map((s) => s.id)).toEqual(["a", "b"]);
    expect(page.nextKey).toEqual({ id: "b", userId: "alice", createdAt: "2029-12-31T12:00:00.000Z" });
  });

  it("the user family's list keeps active sessions only, in the query's filter", async () => {
    ddb.on(QueryCommand).resolves({ Items: [], ScannedCount: 0 });
    await store.listActiveUserSessions("alice", { limit: 100, offset: 0 }, now);
    const input = ddb.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(input?.FilterExpression).toBe(`(${unexpired}) AND (#isActive = :true)`);
    expect(input?.ExpressionAttributeValues).toMatchObject({ ":true": true });
  });

  it("keeps querying when the filter dropped expired items, and ends the list without a next key", async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [item("a")], ScannedCount: 6, LastEvaluatedKey: { id: "x" } })
      .resolvesOnce({ Items: [item("b")], ScannedCount: 1 });
    const page = await store.listUserSessions("alice", { limit: 5, offset: 0 }, now);

    const calls = ddb.commandCalls(QueryCommand);
    // Five of six items were skipped: the next round trip asks for twice as many, not for one each.
    expect(calls.map((c) => c.args[0].input.Limit)).toEqual([6, 12]);
    expect(calls[1]?.args[0].input.ExclusiveStartKey).toEqual({ id: "x" });
    expect(page.items.map((s) => s.id)).toEqual(["a", "b"]);
    expect(page.nextKey).toBeUndefined();
  });

  it("skips a backlog of expired items in doubling batches for the last session", async () => {
    const skipped = (n: number) => ({ Items: [], ScannedCount: n, LastEvaluatedKey: { id: `x${n}` } });
    ddb
      .on(QueryCommand)
      .resolvesOnce(skipped(1))
      .resolvesOnce(skipped(2))
      .resolvesOnce(skipped(4))
      .resolvesOnce({ Items: [item("b")], ScannedCount: 8, LastEvaluatedKey: { id: "b" } });
    expect((await store.lastUserSession("alice", now))?.id).toBe("b");
    expect(ddb.commandCalls(QueryCommand).map((c) => c.args[0].input.Limit)).toEqual([1, 2, 4, 8]);
  });

  it("answers a short page with a next key where the reading stopped once the budget is spent", async () => {
    ddb.on(QueryCommand).callsFake((input: { Limit: number }) => ({
      Items: [],
      ScannedCount: input.Limit,
      LastEvaluatedKey: { id: "deep", userId: "alice", createdAt: "2029-06-01T00:00:00.000Z" },
    }));
    const page = await store.listUserSessions("alice", { limit: 10, offset: 0 }, now);

    const limits = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input.Limit ?? 0);
    expect(limits.reduce((a, b) => a + b, 0)).toBe(PAGE_BUDGET);
    expect(Math.max(...limits)).toBe(MAX_BATCH);
    expect(limits.length).toBeLessThan(15);
    expect(page.items).toEqual([]);
    expect(page.nextKey).toEqual({ id: "deep", userId: "alice", createdAt: "2029-06-01T00:00:00.000Z" });
  });

  it("the last session answers 503, never a wrong 404, when the backlog exceeds its budget", async () => {
    ddb.on(QueryCommand).callsFake((input: { Limit: number }) => ({
      Items: [],
      ScannedCount: input.Limit,
      LastEvaluatedKey: { id: "deep", userId: "alice", createdAt: "2029-06-01T00:00:00.000Z" },
    }));
    const error = await store.lastUserSession("alice", now).catch((e: unknown) => e);
    expect((error as HttpError).status).toBe(503);
  });

  it("bounds a page that resumes from a cursor by the cursor's sort key, and a first page by nothing", async () => {
    ddb.on(QueryCommand).resolves({ Items: [item("b")], ScannedCount: 1 });
    const startKey = { id: "a", userId: "alice", createdAt: "2029-12-31T12:00:00.000Z" };
    await store.listUserSessions("alice", { limit: 5, offset: 0 }, now);
    await store.listUserSessions("alice", { limit: 5, offset: 0, startKey }, now);
    const [first, resumed] = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(first).toMatchObject({ KeyConditionExpression: "#pk = :pk" });
    expect(first?.ExpressionAttributeNames).not.toHaveProperty("#sk");
    expect(resumed).toMatchObject({
      KeyConditionExpression: "#pk = :pk AND #sk <= :sk",
      ExpressionAttributeNames: { "#pk": "userId", "#sk": "createdAt" },
      ExpressionAttributeValues: { ":pk": "alice", ":sk": startKey.createdAt },
      ExclusiveStartKey: startKey,
    });
  });

  it("skips offset items", async () => {
    ddb.on(QueryCommand).resolves({ Items: ["a", "b", "c", "d"].map((id) => item(id)), ScannedCount: 4 });
    const page = await store.listUserSessions("alice", { limit: 2, offset: 1 }, now);
    expect(page.items.map((s) => s.id)).toEqual(["b", "c"]);
    expect(page.nextKey?.id).toBe("c");
  });

  it("hides an item that carries the ended marker from every read", async () => {
    const digest = "9a".repeat(32);
    const ended = { at: earlier, reason: "user", actor: { type: "user", sub: "alice" } };
    ddb.on(GetCommand, { Key: { id: "s1" } }).resolves({ Item: item("s1", { tokenDigest: digest, ended }) });
    ddb
      .on(GetCommand, { Key: { id: `token#${digest}` } })
      .resolves({ Item: { id: `token#${digest}`, sessionId: "s1", expiresAt: later } });
    expect(await store.getSession("s1", now)).toBeUndefined();
    expect(await store.findSessionByToken(digest, now)).toBeUndefined();
  });
});

const unexpired =
  "#expiresAt > :now AND attribute_not_exists(#ended) AND (attribute_not_exists(#idleExpiresAt) OR #idleExpiresAt > :now)";
const ownerLive = `attribute_exists(#userId) AND ${unexpired} AND #userId = :owner`;

describe("owner writes", () => {
  it("deactivation is conditioned on existence, expiry, the ended marker and owner, and keeps the first deactivatedAt", async () => {
    ddb.on(UpdateCommand).resolves({});
    await store.deactivateSession("s1", { ownerId: "alice" }, now);

    const input = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.ConditionExpression).toBe(ownerLive);
    expect(input?.UpdateExpression).toBe(
      "SET #isActive = :false, #deactivatedAt = if_not_exists(#deactivatedAt, :now), #updatedAt = if_not_exists(#deactivatedAt, :now), #deactivatedBy = if_not_exists(#deactivatedBy, :owner)",
    );
    expect(input?.ExpressionAttributeValues).toEqual({
      ":owner": "alice",
      ":now": now.toISOString(),
      ":false": false,
    });
  });

  it("turns a failed condition into SessionNotFound, and writes nothing more", async () => {
    ddb.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: "failed", ...meta }));
    ddb.on(GetCommand).resolves({ Item: item("s1") });
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: "c",
        ...meta,
        CancellationReasons: [{ Code: "ConditionalCheckFailed" }],
      }),
    );
    await expect(store.deactivateSession("s1", { ownerId: "bob" }, now)).rejects.toBeInstanceOf(
      SessionNotFound,
    );
    await expect(store.deleteSession("s1", { ownerId: "bob" }, userEnd("bob"), now)).rejects.toBeInstanceOf(
      SessionNotFound,
    );
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it("an absent session is not found without any write", async () => {
    ddb.on(GetCommand).resolves({});
    await expect(store.deleteSession("s1", {}, adminEnd, now)).rejects.toBeInstanceOf(SessionNotFound);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it("ends a session and deletes its token item in one transaction, then deletes the ended item", async () => {
    const digest = "12".repeat(32);
    ddb.on(GetCommand).resolves({ Item: item("s1", { tokenDigest: digest }) });
    ddb.on(TransactWriteCommand).resolves({});
    ddb.on(DeleteCommand).resolves({});
    await store.deleteSession(
      "s1",
      { ownerId: "alice" },
      { reason: "user", actor: { type: "user", sub: "alice" } },
      now,
    );

    const transactions = ddb.commandCalls(TransactWriteCommand).map((c) => c.args[0].input.TransactItems);
    expect(transactions).toEqual([
      [
        {
          Update: {
            TableName: "sessions-unit",
            Key: { id: "s1" },
            ConditionExpression: ownerLive,
            UpdateExpression: "SET #ended = :ended, #ttl = :ttl",
            ExpressionAttributeNames: {
              "#userId": "userId",
              "#expiresAt": "expiresAt",
              "#ended": "ended",
              "#idleExpiresAt": "idleExpiresAt",
              "#ttl": "ttl",
            },
            ExpressionAttributeValues: {
              ":now": now.toISOString(),
              ":owner": "alice",
              ":ended": { at: now.toISOString(), reason: "user", actor: { type: "user", sub: "alice" } },
              ":ttl": now.getTime() / 1000,
            },
          },
        },
        {
          Delete: {
            TableName: "sessions-unit",
            Key: { id: `token#${digest}` },
            ConditionExpression: "attribute_not_exists(#id) OR #sessionId = :sessionId",
            ExpressionAttributeNames: { "#id": "id", "#sessionId": "sessionId" },
            ExpressionAttributeValues: { ":sessionId": "s1" },
          },
        },
      ],
    ]);
    expect(ddb.commandCalls(DeleteCommand).map((c) => c.args[0].input)).toEqual([
      {
        TableName: "sessions-unit",
        Key: { id: "s1" },
        ConditionExpression: "attribute_exists(#ended)",
        ExpressionAttributeNames: { "#ended": "ended" },
      },
    ]);
  });

  it("leaves a token item that names another session alone, and still ends the session", async () => {
    ddb.on(GetCommand).resolves({ Item: item("s1", { tokenDigest: "34".repeat(32) }) });
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(
        new TransactionCanceledException({
          message: "c",
          ...meta,
          CancellationReasons: [{ Code: "None" }, { Code: "ConditionalCheckFailed" }],
        }),
      )
      .resolves({});
    ddb.on(UpdateCommand).resolves({});
    ddb.on(DeleteCommand).resolves({});
    await store.deleteSession("s1", {}, adminEnd, now);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
    const [alone] = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(alone).toMatchObject({ Key: { id: "s1" }, UpdateExpression: "SET #ended = :ended, #ttl = :ttl" });
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(1);
  });

  it("ends a session without a token by one conditional UpdateItem, not a transaction", async () => {
    ddb.on(GetCommand).resolves({ Item: item("s1") });
    ddb.on(UpdateCommand).resolves({});
    ddb.on(DeleteCommand).resolves({});
    await store.deleteSession("s1", { ownerId: "alice" }, userEnd("alice"), now);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input.ConditionExpression).toBe(ownerLive);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(1);
  });

  it("retries a transaction that lost a conflict, then succeeds", async () => {
    ddb.on(GetCommand).resolves({ Item: item("s1", { tokenDigest: "56".repeat(32) }) });
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(
        new TransactionCanceledException({
          message: "c",
          ...meta,
          CancellationReasons: [{ Code: "TransactionConflict" }],
        }),
      )
      .resolves({});
    ddb.on(DeleteCommand).resolves({});
    await store.deleteSession("s1", {}, adminEnd, now);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(2);
  });
});

describe("deleteUserSessions", () => {
  it("ends the user's live sessions but one, each with its token item, and counts them", async () => {
    const first = Array.from({ length: 60 }, (_, i) => ({
      id: `s${i}`,
      ...(i % 2 ? { tokenDigest: `d${i}` } : {}),
    }));
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: first, LastEvaluatedKey: { id: "s59" } })
      .resolvesOnce({ Items: [{ id: "keep" }, { id: "t1" }] });
    ddb.on(TransactWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    ddb.on(DeleteCommand).resolves({});

    const count = await store.deleteUserSessions("alice", { ...userEnd("alice"), exceptId: "keep" }, now);
    expect(count).toBe(61);
    const query = ddb.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query?.FilterExpression).toBe(unexpired);
    const transactions = ddb
      .commandCalls(TransactWriteCommand)
      .map((c) => c.args[0].input.TransactItems ?? []);
    expect(transactions).toHaveLength(30);
    expect(
      transactions.every(
        (parts) => parts[1]?.Delete?.Key?.id === `token#${parts[0]?.Update?.Key?.id?.replace("s", "d")}`,
      ),
    ).toBe(true);
    const updates = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(updates).toHaveLength(31);
    const conditions = [
      ...transactions.map((parts) => parts[0]?.Update?.ConditionExpression),
      ...updates.map((u) => u.ConditionExpression),
    ];
    expect(conditions.every((c) => c === ownerLive)).toBe(true);
    const deleted = ddb.commandCalls(DeleteCommand).map((c) => c.args[0].input.Key?.id);
    expect(deleted).toHaveLength(61);
    expect(deleted).not.toContain("keep");
  });

  it("leaves alone and does not count the sessions whose condition failed", async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ id: "a" }, { id: "b", tokenDigest: "bb" }, { id: "c" }] });
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: "c",
        ...meta,
        CancellationReasons: [{ Code: "ConditionalCheckFailed" }, { Code: "None" }],
      }),
    );
    ddb.on(UpdateCommand).resolves({});
    ddb.on(DeleteCommand).resolves({});
    expect(await store.deleteUserSessions("alice", userEnd("alice"), now)).toBe(2);
    expect(
      ddb
        .commandCalls(DeleteCommand)
        .map((c) => c.args[0].input.Key?.id)
        .sort(),
    ).toEqual(["a", "c"]);
  });

  it("answers 503 once its time budget is spent, having finished every session it started", async () => {
    const items = Array.from({ length: 25 }, (_, i) => ({ id: `s${i}` }));
    ddb.on(QueryCommand).resolves({ Items: items });
    ddb.on(DeleteCommand).resolves({});
    let clock = Date.now();
    const spy = vi.spyOn(Date, "now").mockImplementation(() => clock);
    ddb.on(UpdateCommand).callsFake(() => {
      clock += END_ALL_BUDGET_MS / 15;
      return {};
    });
    const error = await store.deleteUserSessions("alice", userEnd("alice"), now).catch((e: unknown) => e);
    spy.mockRestore();
    expect((error as HttpError).status).toBe(503);
    // Two rounds of ten went past the budget; the third never started; all twenty are fully ended.
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(20);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(20);
  });
});

describe("store failures", () => {
  it.each([
    ["throttling", new ProvisionedThroughputExceededException({ message: "slow down", ...meta })],
    ["a server error", new InternalServerError({ message: "boom", ...meta })],
    [
      "a refused connection",
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8000"), { code: "ECONNREFUSED" }),
    ],
    ["a request timeout", Object.assign(new Error("timed out"), { name: "TimeoutError" })],
  ])("%s becomes a 503 with Retry-After", async (_, failure) => {
    ddb.on(PutCommand).rejects(failure);
    const error = await store.createSession(newSession()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(503);
    expect((error as HttpError).headers["retry-after"]).toBe("1");
  });

  it("a client-side fault is a bug, not an outage", async () => {
    const invalid = Object.assign(new Error("bad expression"), {
      name: "ValidationException",
      $fault: "client",
    });
    ddb.on(GetCommand).rejects(invalid);
    await expect(store.getSession("s1", now)).rejects.toBe(invalid);
  });
});
