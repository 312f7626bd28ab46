import {
  ConditionalCheckFailedException,
  InternalServerError,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { HttpError, SessionNotFound, TokenAlreadyRegistered } from "../../functions/shared/errors.ts";
import * as store from "../../functions/shared/store.ts";

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
        feed: "all",
        createdAt: "2030-01-01T00:00:00.000Z",
        updatedAt: "2030-01-01T00:00:00.000Z",
        expiresAt: "2030-01-01T10:00:00.123Z",
        ttl: Math.ceil(Date.parse("2030-01-01T10:00:00.123Z") / 1000),
        isActive: true,
        ipAddress: "192.0.2.1",
        userAgent: undefined,
        profile: '{"email":"a@example.test"}',
        tokenDigest: undefined,
      },
      ConditionExpression: "attribute_not_exists(#id)",
      ExpressionAttributeNames: { "#id": "id" },
    });
    expect(session).toMatchObject({ id: "s1", isActive: true, deactivatedAt: null, userAgent: null });
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
    await expect(store.createSession(newSession("cd".repeat(32)))).rejects.toBeInstanceOf(
      TokenAlreadyRegistered,
    );
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

  it("pages newest first, filters expiry in the query and reads one extra item to know a next page exists", async () => {
    ddb
      .on(QueryCommand)
      .resolves({ Items: [item("a"), item("b"), item("c")], LastEvaluatedKey: { id: "c" } });
    const page = await store.listUserSessions("alice", { limit: 2, offset: 0 }, now);

    const input = ddb.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      IndexName: "byUser",
      ScanIndexForward: false,
      Limit: 3,
      FilterExpression: "#expiresAt > :now",
      ExpressionAttributeValues: { ":pk": "alice", ":now": now.toISOString() },
    });
    expect(page.items.map((s) => s.id)).toEqual(["a", "b"]);
    expect(page.nextKey).toEqual({ id: "b", userId: "alice", createdAt: "2029-12-31T12:00:00.000Z" });
  });

  it("keeps querying when the filter dropped expired items, and ends the list without a next key", async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [item("a")], LastEvaluatedKey: { id: "x" } })
      .resolvesOnce({ Items: [item("b")] });
    const page = await store.listSessions({ limit: 5, offset: 0 }, now);

    const calls = ddb.commandCalls(QueryCommand);
    expect(calls.map((c) => c.args[0].input.Limit)).toEqual([6, 5]);
    expect(calls[1]?.args[0].input.ExclusiveStartKey).toEqual({ id: "x" });
    expect(calls[0]?.args[0].input.IndexName).toBe("byCreated");
    expect(page.items.map((s) => s.id)).toEqual(["a", "b"]);
    expect(page.nextKey).toBeUndefined();
  });

  it("reads only the newest live item for the last session", async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [], LastEvaluatedKey: { id: "expired" } })
      .resolvesOnce({ Items: [item("b")], LastEvaluatedKey: { id: "b" } });
    expect((await store.lastUserSession("alice", now))?.id).toBe("b");
    expect(ddb.commandCalls(QueryCommand).map((c) => c.args[0].input.Limit)).toEqual([1, 1]);
  });

  it("bounds a page that resumes from a cursor by the cursor's sort key, and a first page by nothing", async () => {
    ddb.on(QueryCommand).resolves({ Items: [item("b")] });
    const startKey = { id: "a", feed: "all", createdAt: "2029-12-31T12:00:00.000Z" };
    await store.listSessions({ limit: 5, offset: 0 }, now);
    await store.listSessions({ limit: 5, offset: 0, startKey }, now);
    const [first, resumed] = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(first).toMatchObject({ KeyConditionExpression: "#pk = :pk" });
    expect(first?.ExpressionAttributeNames).not.toHaveProperty("#sk");
    expect(resumed).toMatchObject({
      KeyConditionExpression: "#pk = :pk AND #sk <= :sk",
      ExpressionAttributeNames: { "#pk": "feed", "#sk": "createdAt" },
      ExpressionAttributeValues: { ":pk": "all", ":sk": startKey.createdAt },
      ExclusiveStartKey: startKey,
    });
  });

  it("skips offset items", async () => {
    ddb.on(QueryCommand).resolves({ Items: ["a", "b", "c", "d"].map((id) => item(id)) });
    const page = await store.listSessions({ limit: 2, offset: 1 }, now);
    expect(page.items.map((s) => s.id)).toEqual(["b", "c"]);
    expect(page.nextKey?.id).toBe("c");
  });
});

describe("owner writes", () => {
  it("deactivation is conditioned on existence, expiry and owner, and keeps the first deactivatedAt", async () => {
    ddb.on(UpdateCommand).resolves({});
    await store.deactivateSession("s1", { ownerId: "alice" }, now);

    const input = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.ConditionExpression).toBe(
      "attribute_exists(#userId) AND #expiresAt > :now AND #userId = :owner",
    );
    expect(input?.UpdateExpression).toContain("#deactivatedAt = if_not_exists(#deactivatedAt, :now)");
    expect(input?.ExpressionAttributeValues).toMatchObject({ ":owner": "alice", ":now": now.toISOString() });
  });

  it("turns ConditionalCheckFailed into SessionNotFound", async () => {
    ddb.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: "failed", ...meta }));
    ddb.on(DeleteCommand).rejects(new ConditionalCheckFailedException({ message: "failed", ...meta }));
    await expect(store.deactivateSession("s1", { ownerId: "bob" }, now)).rejects.toBeInstanceOf(
      SessionNotFound,
    );
    await expect(store.deleteSession("s1", {}, now)).rejects.toBeInstanceOf(SessionNotFound);
  });

  it("deleting a session also deletes its registered token", async () => {
    ddb.on(DeleteCommand).resolves({ Attributes: item("s1", { tokenDigest: "12".repeat(32) }) });
    await store.deleteSession("s1", { ownerId: "alice" }, now);
    const keys = ddb.commandCalls(DeleteCommand).map((c) => c.args[0].input.Key);
    expect(keys).toEqual([{ id: "s1" }, { id: `token#${"12".repeat(32)}` }]);
  });
});

describe("deleteAllUserSessions", () => {
  it("pages through the index and deletes sessions and token items in batches of 25", async () => {
    const first = Array.from({ length: 30 }, (_, i) => ({ id: `s${i}` }));
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: first, LastEvaluatedKey: { id: "s29" } })
      .resolvesOnce({ Items: [{ id: "t1", tokenDigest: "aa" }] });
    ddb.on(BatchWriteCommand).resolves({});

    expect(await store.deleteAllUserSessions("alice")).toBe(31);
    const batches = ddb
      .commandCalls(BatchWriteCommand)
      .map((c) =>
        (c.args[0].input.RequestItems?.["sessions-unit"] ?? []).map((r) => r.DeleteRequest?.Key?.id),
      );
    expect(batches.map((b) => b.length)).toEqual([25, 5, 1, 1]);
    // Per page, the sessions go first and their token items after, never in one batch.
    expect(batches.slice(2)).toEqual([["t1"], ["token#aa"]]);
  });

  it("retries UnprocessedItems until they are done", async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ id: "a" }, { id: "b" }] });
    ddb
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { "sessions-unit": [{ DeleteRequest: { Key: { id: "b" } } }] } })
      .resolvesOnce({});

    await store.deleteAllUserSessions("alice");
    const calls = ddb.commandCalls(BatchWriteCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]?.args[0].input.RequestItems?.["sessions-unit"]).toEqual([
      { DeleteRequest: { Key: { id: "b" } } },
    ]);
  });

  it("gives up with a 503 when items stay unprocessed", async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ id: "a" }] });
    ddb
      .on(BatchWriteCommand)
      .resolves({ UnprocessedItems: { "sessions-unit": [{ DeleteRequest: { Key: { id: "a" } } }] } });
    const error = await store.deleteAllUserSessions("alice").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(503);
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(6);
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
