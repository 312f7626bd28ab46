import {
  GetCommand,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  TransactWriteCommand,
} from "@aws-sdk/lib-dynamodb";
import { feedOf, sessionTable } from "../../../lib/table.ts";
import { lifecycle } from "../config.ts";
import { SessionLimitReached, serviceUnavailable, TokenAlreadyRegistered } from "../errors.ts";
import type { LifecycleSettings } from "../lifecycle-settings.ts";
import {
  backoff,
  call,
  cancellationCodes,
  db,
  isUnavailable,
  TableName,
  type TransactItem,
} from "./client.ts";
import { and, liveOwned, unexpired } from "./conditions.ts";
import { deleteToken, markEnded, removeEnded } from "./end.ts";
import {
  type Ended,
  epochSeconds,
  fromItem,
  gone,
  type Session,
  type SessionItem,
  type TokenItem,
  tokenKey,
  ttlOf,
  type UserItem,
  userKey,
} from "./items.ts";
import { readSessionItem } from "./sessions.ts";

// Creating a session: its item, the item of a client-supplied token (same transaction), and under a
// per-user cap (SESSION_MAX_PER_USER) the user's cap item and any session the cap evicts.

export interface NewSession {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  ipAddress: string | null;
  userAgent: string | null;
  profile: Record<string, unknown> | null;
  /** SHA-256 digest (hex) of a client-supplied token; the token itself is never stored. */
  tokenDigest: string | null;
  /** The admin `sub` that asked for it. */
  createdBy?: string | undefined;
}

/** Time a create may spend on contention (re-reading and retrying) before it answers 503. */
export const CREATE_BUDGET_MS = 8_000;

/**
 * Stores a new session. Throws TokenAlreadyRegistered when its token names a live session (checked
 * before the cap), SessionLimitReached when the cap is reached under `deny_new`.
 */
export async function createSession(
  input: NewSession,
  settings: LifecycleSettings = lifecycle,
): Promise<Session> {
  if (settings.maxPerUser > 0) return createCapped(input, settings);
  const item = sessionItem(input, input.createdAt, settings);
  if (input.tokenDigest === null) {
    try {
      await call(() => db.send(new PutCommand(putSession(item))));
    } catch (error) {
      // The SDK retries an attempt that timed out; if the first attempt had written the item, the
      // retry's condition fails on our own session. (A transaction is idempotent by its client
      // request token; a PutItem is not.) 192 random bits never collide, so the item is ours.
      if ((error as Error).name !== "ConditionalCheckFailedException") throw error;
      const written = await readSessionItem(item.id);
      if (written?.userId !== item.userId || written.createdAt !== item.createdAt) throw error;
    }
    return fromItem(item);
  }
  const digest = input.tokenDigest;
  const deadline = Date.now() + CREATE_BUDGET_MS;
  let freed: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const outcome = await attemptTransaction([
      { Put: putSession(item) },
      { Put: putToken(item, digest, freed) },
    ]);
    if (outcome === "done") return fromItem(item);
    if (outcome !== "contention" && outcome[1] === "ConditionalCheckFailed") {
      freed = await freeTokenHolder(digest, new Date());
    }
    await pause(attempt, deadline);
  }
}

/**
 * The capped create. Every capped create of a user rewrites the user's cap item under a version
 * condition in the same transaction as the session, so creates for one user commit one at a time,
 * each from the state the previous one left: the count of live sessions cannot be raced past the
 * cap. The cap item lists candidates; deactivation and either clock end sessions without touching
 * it, so each candidate's liveness is read from its own item (strongly consistent) on every attempt.
 */
async function createCapped(input: NewSession, settings: LifecycleSettings): Promise<Session> {
  const deadline = Date.now() + CREATE_BUDGET_MS;
  const { item, evicted } = await oneAtATime(input.userId, () => createCappedNow(input, settings, deadline));
  // The evicted sessions have ended (marker written, token items gone); their items go now, outside
  // the user's queue: no create depends on it.
  await Promise.all(evicted.map((id) => removeEnded(id)));
  return fromItem(item);
}

async function createCappedNow(
  input: NewSession,
  settings: LifecycleSettings,
  deadline: number,
): Promise<{ item: SessionItem; evicted: string[] }> {
  const digest = input.tokenDigest;
  // A supplied token that is already registered answers first (its 409 wins over the cap's).
  let freed = digest === null ? undefined : await freeTokenHolder(digest, new Date());
  for (let attempt = 1; ; attempt++) {
    const now = new Date();
    const user = await readUserItem(input.userId);
    const candidates = user
      ? user.sessions.map((entry) => entry.id)
      : await indexedCandidates(input.userId, now);
    const live = (await liveSessions(candidates, input.userId, now)).filter((item) => item.id !== input.id);
    live.sort(byAge);
    const excess = live.length + 1 - settings.maxPerUser;
    if (excess > 0 && settings.limitPolicy === "deny_new") throw new SessionLimitReached();
    const evicted = excess > 0 ? live.slice(0, Math.min(excess, MAX_EVICTIONS)) : [];
    const kept = live.slice(evicted.length);
    // The new session is the newest of the user's live ones, whatever the clocks of the functions
    // that created the others, so the sessions an eviction keeps are always the newest.
    const newest = kept.at(-1)?.createdAt;
    const createdAt =
      newest !== undefined && newest >= input.createdAt.toISOString()
        ? new Date(Date.parse(newest) + 1)
        : input.createdAt;
    const item = sessionItem(input, createdAt, settings);
    const listed = [...kept, item];
    const userItem: UserItem = {
      id: userKey(input.userId),
      version: (user?.version ?? 0) + 1,
      sessions: listed.map(({ id, createdAt }) => ({ id, createdAt })),
      ttl: Math.max(...listed.map((entry) => epochSeconds(entry.expiresAt))),
    };
    const ended: Ended = { at: now.toISOString(), reason: "limit", actor: { type: "system" } };
    const parts: TransactItem[] = [
      { Put: putUser(userItem, user?.version) },
      { Put: putSession(item) },
      ...(digest === null ? [] : [{ Put: putToken(item, digest, freed) }]),
      ...evicted.flatMap((old) => [
        markEnded(old.id, liveOwned(now, input.userId), ended, now),
        ...(old.tokenDigest === undefined ? [] : [deleteToken(old.tokenDigest, old.id)]),
      ]),
    ];
    const outcome = await attemptTransaction(parts);
    if (outcome === "done") {
      return { item, evicted: evicted.map((old) => old.id) };
    }
    if (digest !== null && outcome !== "contention" && outcome[2] === "ConditionalCheckFailed") {
      freed = await freeTokenHolder(digest, new Date());
    }
    // Another create of this user committed first, or an evicted session ended meanwhile: read again.
    await pause(attempt, deadline);
  }
}

/**
 * Sessions one create may evict: two parts each (marker, token) beside three of its own, within
 * TransactWriteItems' 100. Only a user holding more than cap + 45 live sessions (made before the cap
 * was turned on) is brought under the cap over several creates.
 */
const MAX_EVICTIONS = 45;
/** Candidates a user without a cap item contributes from the user index (newest first). */
const INDEXED_CANDIDATES = 100;

/**
 * Capped creates for one user, one after the other within this process. A Lambda function instance
 * serves one request at a time, so this changes nothing there: the version condition alone keeps
 * instances apart. A process serving many requests at once (the local runner) would otherwise send
 * transactions for one user that all but one are bound to fail, each costing a round trip and the
 * database's time, and retried until the budget runs out.
 */
const userQueues = new Map<string, Promise<unknown>>();
async function oneAtATime<T>(userId: string, task: () => Promise<T>): Promise<T> {
  const previous = userQueues.get(userId) ?? Promise.resolve();
  const run = previous.then(task, task);
  const settled = run.catch(() => undefined);
  userQueues.set(userId, settled);
  try {
    return await run;
  } finally {
    if (userQueues.get(userId) === settled) userQueues.delete(userId);
  }
}

/** A cancelled transaction's codes when a condition failed, "contention" when another transaction won. */
async function attemptTransaction(TransactItems: TransactItem[]): Promise<"done" | "contention" | string[]> {
  try {
    await db.send(new TransactWriteCommand({ TransactItems }));
    return "done";
  } catch (error) {
    const codes = cancellationCodes(error);
    if (codes.includes("ConditionalCheckFailed")) return codes;
    if ((error as Error).name === "TransactionConflictException" || codes.includes("TransactionConflict")) {
      return "contention";
    }
    if (isUnavailable(error)) throw serviceUnavailable(error);
    throw error;
  }
}

/**
 * Full-jitter exponential backoff between attempts (up to 640 ms), within the budget: contenders for
 * one user commit one at a time, and spreading their retries lets each round commit one instead of
 * every contender re-reading at once.
 */
async function pause(attempt: number, deadline: number): Promise<void> {
  if (Date.now() > deadline) {
    throw serviceUnavailable(new Error(`create: contention for ${CREATE_BUDGET_MS} ms`));
  }
  await backoff(Math.min(attempt, 5), 20);
}

function sessionItem(input: NewSession, created: Date, settings: LifecycleSettings): SessionItem {
  const createdAt = created.toISOString();
  const expiresAt = input.expiresAt.toISOString();
  const idleExpiresAt =
    settings.idleSeconds > 0
      ? new Date(created.getTime() + settings.idleSeconds * 1000).toISOString()
      : undefined;
  return {
    id: input.id,
    userId: input.userId,
    feed: feedOf(input.id),
    createdAt,
    updatedAt: createdAt,
    expiresAt,
    ttl: ttlOf(expiresAt, idleExpiresAt),
    isActive: true,
    ipAddress: input.ipAddress ?? undefined,
    userAgent: input.userAgent ?? undefined,
    profile: input.profile ? JSON.stringify(input.profile) : undefined,
    tokenDigest: input.tokenDigest ?? undefined,
    createdBy: input.createdBy,
    lastActiveAt: createdAt,
    idleExpiresAt,
  };
}

function putSession(item: SessionItem): PutCommandInput {
  return {
    TableName,
    Item: item,
    ConditionExpression: "attribute_not_exists(#id)",
    ExpressionAttributeNames: { "#id": "id" },
  };
}

/**
 * The token item. It may replace one whose absolute expiry has passed, or, when `freed` names it, one
 * whose session has ended otherwise (idle clock, or an end whose token delete was skipped): a session
 * never comes back, so a condition naming it cannot let the token be taken from a live session.
 */
function putToken(item: SessionItem, digest: string, freed: string | undefined): PutCommandInput {
  const tokenItem: TokenItem = {
    id: tokenKey(digest),
    sessionId: item.id,
    expiresAt: item.expiresAt,
    // The absolute expiry, not the session's TTL: the idle clock moves with use, and the sweeper must
    // never take the token item of a session still in use.
    ttl: epochSeconds(item.expiresAt),
  };
  return {
    TableName,
    Item: tokenItem,
    ConditionExpression: `attribute_not_exists(#id) OR #expiresAt <= :now${freed === undefined ? "" : " OR #sessionId = :freed"}`,
    ExpressionAttributeNames: {
      "#id": "id",
      "#expiresAt": "expiresAt",
      ...(freed !== undefined && { "#sessionId": "sessionId" }),
    },
    ExpressionAttributeValues: {
      ":now": new Date().toISOString(),
      ...(freed !== undefined && { ":freed": freed }),
    },
  };
}

/**
 * Who holds a token: throws TokenAlreadyRegistered while it names a session that has not ended
 * (deactivated ones included, until they expire); otherwise the id of the ended session it still
 * names (to be replaced under a condition naming it), or undefined when no live item holds it.
 */
async function freeTokenHolder(digest: string, now: Date): Promise<string | undefined> {
  const { Item } = await call(() =>
    db.send(new GetCommand({ TableName, Key: { id: tokenKey(digest) }, ConsistentRead: true })),
  );
  const token = Item as TokenItem | undefined;
  if (!token || !(token.expiresAt > now.toISOString())) return undefined;
  const session = await readSessionItem(token.sessionId);
  if (session && session.tokenDigest === digest && !gone(session, now)) throw new TokenAlreadyRegistered();
  return token.sessionId;
}

function putUser(item: UserItem, version: number | undefined): PutCommandInput {
  return {
    TableName,
    Item: item,
    ...(version === undefined
      ? { ConditionExpression: "attribute_not_exists(#id)", ExpressionAttributeNames: { "#id": "id" } }
      : {
          ConditionExpression: "#version = :version",
          ExpressionAttributeNames: { "#version": "version" },
          ExpressionAttributeValues: { ":version": version },
        }),
  };
}

async function readUserItem(userId: string): Promise<UserItem | undefined> {
  const { Item } = await call(() =>
    db.send(new GetCommand({ TableName, Key: { id: userKey(userId) }, ConsistentRead: true })),
  );
  return Item as UserItem | undefined;
}

/**
 * A user without a cap item yet (first capped create, or sessions made while the cap was off): the
 * live, active sessions the user index knows. Each is then confirmed by a strongly consistent read.
 */
async function indexedCandidates(userId: string, now: Date): Promise<string[]> {
  const filter = and(unexpired(now), {
    expression: "#isActive = :true",
    names: { "#isActive": "isActive" },
    values: { ":true": true },
  });
  const { Items } = await call(() =>
    db.send(
      new QueryCommand({
        TableName,
        IndexName: sessionTable.indexes.byUser.name,
        KeyConditionExpression: "#pk = :pk",
        FilterExpression: filter.expression,
        ProjectionExpression: "#id",
        ScanIndexForward: false,
        Limit: INDEXED_CANDIDATES,
        ExpressionAttributeNames: { ...filter.names, "#pk": "userId", "#id": "id" },
        ExpressionAttributeValues: { ...filter.values, ":pk": userId },
      }),
    ),
  );
  return (Items ?? []).map((item) => item.id as string);
}

/** The candidates that are the user's live sessions now: present, active, unexpired by either clock. */
async function liveSessions(ids: string[], userId: string, now: Date): Promise<SessionItem[]> {
  const items = await Promise.all([...new Set(ids)].map((id) => readSessionItem(id)));
  return items.filter(
    (item): item is SessionItem =>
      item !== undefined && item.userId === userId && item.isActive && !gone(item, now),
  );
}

const byAge = (a: SessionItem, b: SessionItem) =>
  a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1;
