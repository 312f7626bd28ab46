import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import type { RouteId } from "../../lib/routes.ts";
import { FEED_SHARDS, firstShare } from "../../lib/table.ts";
import {
  type Bench,
  type Call,
  eventFor,
  expectStatus,
  lambdaContext,
  routeById,
  type Service,
  TABLE_NAME,
  withoutRequestLogs,
} from "../context.ts";
import {
  adminToken,
  newId,
  openSessions,
  rawFeedPage,
  rawPage,
  rawSessionItem,
  type Session,
  signToken,
} from "../fixtures.ts";
import { ms, type PhaseOutcome, verdict } from "../report.ts";
import { type Summary, summarize } from "../stats.ts";

// Phase 3: each route's handler invoked in-process and warm, and, alternating with it, the DynamoDB
// commands that route sends, issued directly with the store's own client (no middy, no auth, no
// DocumentClient marshalling). The difference is what the function's code adds to a request.

const TARGET_MS = 0.25;
const WARMUP = 50;

interface Scenario {
  id: RouteId;
  status: number;
  /**
   * Whether the calls share one bearer token, as a client's requests do, or each brings a token the
   * function has not seen: a function verifies a token's signature once and keeps the result.
   */
  tokens?: "one" | "new per call";
  /** The raw commands, as issued; absent when the route does not touch the table. */
  commands?: string;
  call(i: number): Call;
  raw?(i: number): Promise<unknown>;
}

const now = () => new Date().toISOString();
const S = (value: string) => ({ S: value });

async function scenarios(service: Service, total: number, log: (line: string) => void): Promise<Scenario[]> {
  const { client, auth } = service;
  const admin = await adminToken();
  const freshAdmins: string[] = [];
  for (let i = 0; i < total; i++) {
    freshAdmins.push(await signToken({ sub: "bench-admin", scope: "sessions:admin", jti: `ovh-${i}` }));
  }
  log(`overhead: opening fixture sessions (${12 * total + 12} sessions)`);
  const reader = "ovh-reader";
  const readerSessions = await openSessions(service, reader, 12);
  const readerToken = await auth.issueAccessToken(readerSessions.at(-1)!);
  const readerSid = readerSessions.at(-1)!.id;

  const pairs = async (userId: string) => {
    const all = await openSessions(service, userId, 2 * total + 1);
    const owner = all.pop()!;
    return {
      owner,
      token: await auth.issueAccessToken(owner),
      handler: all.slice(0, total),
      raw: all.slice(total),
    };
  };
  const adminDeletes = await pairs("ovh-admin-del");
  const userDeletes = await pairs("ovh-user-del");
  const deactivations = await pairs("ovh-deact");
  const deleteAllUsers: { token: string; sid: string; userId: string }[][] = [[], []];
  for (const side of [0, 1] as const) {
    for (let i = 0; i < total; i++) {
      const userId = `ovh-all-${side}-${i}`;
      const sessions = await openSessions(service, userId, 3);
      deleteAllUsers[side]!.push({
        userId,
        sid: sessions[2]!.id,
        token: await auth.issueAccessToken(sessions[2]!),
      });
    }
  }

  const get = (id: string) =>
    client.send(new GetItemCommand({ TableName: TABLE_NAME, Key: { id: S(id) }, ConsistentRead: true }));
  const put = (userId: string) =>
    client.send(
      new PutItemCommand({
        TableName: TABLE_NAME,
        Item: rawSessionItem(newId(), userId),
        ConditionExpression: "attribute_not_exists(#id)",
        ExpressionAttributeNames: { "#id": "id" },
      }),
    );
  const page = (index: "byUser" | "byCreated", pk: string, limit: number) =>
    rawPage(client, index, pk, limit);
  const ownerCondition = (owner: string | undefined) => ({
    ConditionExpression: `attribute_exists(#userId) AND #expiresAt > :now${owner ? " AND #userId = :owner" : ""}`,
    ExpressionAttributeNames: { "#userId": "userId", "#expiresAt": "expiresAt" },
    ExpressionAttributeValues: { ":now": S(now()), ...(owner ? { ":owner": S(owner) } : {}) },
  });
  // Ending a session as the contract requires (section 9: who, why and when reach the stream): the
  // ended marker by a conditional UpdateItem, then the DeleteItem of the marked item. The sessions
  // here hold no registered token, so the marker is a single UpdateItem, not a transaction.
  const endRaw = async (id: string, owner?: string) => {
    const condition = ownerCondition(owner);
    await client.send(
      new UpdateItemCommand({
        TableName: TABLE_NAME,
        Key: { id: S(id) },
        ConditionExpression: condition.ConditionExpression,
        UpdateExpression: "SET #ended = :ended, #ttl = :ttl",
        ExpressionAttributeNames: { ...condition.ExpressionAttributeNames, "#ended": "ended", "#ttl": "ttl" },
        ExpressionAttributeValues: {
          ...condition.ExpressionAttributeValues,
          ":ended": {
            M: { at: S(now()), reason: S("admin"), actor: { M: { type: S("admin"), sub: S("ops") } } },
          },
          ":ttl": { N: String(Math.ceil(Date.now() / 1000)) },
        },
      }),
    );
    await client.send(
      new DeleteItemCommand({
        TableName: TABLE_NAME,
        Key: { id: S(id) },
        ConditionExpression: "attribute_exists(#ended)",
        ExpressionAttributeNames: { "#ended": "ended" },
      }),
    );
  };
  /** One session's end: the consistent read that learns its token item, then the two writes. */
  const remove = async (s: Session, owner?: string) => {
    await get(s.id);
    await endRaw(s.id, owner);
  };

  return [
    { id: "Health", status: 200, call: () => ({}) },
    { id: "Fallback", status: 404, call: () => ({ path: "/no-such-route" }) },
    {
      id: "AdminCreateSession",
      status: 201,
      commands: "PutItem",
      call: () => ({ token: admin, body: { userId: "ovh-creator" } }),
      raw: () => put("ovh-creator"),
    },
    {
      id: "AdminCreateUserSession",
      status: 201,
      commands: "PutItem",
      call: () => ({ token: admin, params: { user_id: "ovh-creator" }, body: {} }),
      raw: () => put("ovh-creator"),
    },
    {
      id: "AdminListSessions",
      status: 200,
      commands: `Query byCreated × ${FEED_SHARDS} shards (Limit ${firstShare(10, FEED_SHARDS)} each)`,
      call: () => ({ token: admin }),
      raw: () => rawFeedPage(client, 10),
    },
    {
      id: "AdminGetSession",
      status: 200,
      commands: "GetItem",
      call: () => ({ token: admin, params: { id: readerSessions[3]!.id } }),
      raw: () => get(readerSessions[3]!.id),
    },
    {
      id: "AdminGetSession",
      tokens: "new per call",
      status: 200,
      commands: "GetItem",
      call: (i) => ({ token: freshAdmins[i]!, params: { id: readerSessions[3]!.id } }),
      raw: () => get(readerSessions[3]!.id),
    },
    {
      id: "AdminDeleteSession",
      status: 200,
      commands: "GetItem, UpdateItem (ended), DeleteItem",
      call: (i) => ({ token: admin, params: { id: adminDeletes.handler[i]!.id } }),
      raw: (i) => remove(adminDeletes.raw[i]!),
    },
    {
      id: "AdminListUserSessions",
      status: 200,
      commands: "Query byUser (Limit 11)",
      call: () => ({ token: admin, params: { user_id: reader } }),
      raw: () => page("byUser", reader, 11),
    },
    {
      id: "AdminLastUserSession",
      status: 200,
      commands: "Query byUser (Limit 1)",
      call: () => ({ token: admin, params: { user_id: reader } }),
      raw: () => page("byUser", reader, 1),
    },
    {
      id: "UserListSessions",
      status: 200,
      commands: "GetItem (sid), Query byUser",
      call: () => ({ token: readerToken }),
      raw: async () => {
        await get(readerSid);
        await client.send(
          new QueryCommand({
            TableName: TABLE_NAME,
            IndexName: "byUser",
            KeyConditionExpression: "#userId = :pk",
            ScanIndexForward: false,
            FilterExpression: "#expiresAt > :now AND #isActive = :true",
            ExpressionAttributeNames: {
              "#userId": "userId",
              "#expiresAt": "expiresAt",
              "#isActive": "isActive",
            },
            ExpressionAttributeValues: { ":pk": S(reader), ":now": S(now()), ":true": { BOOL: true } },
          }),
        );
      },
    },
    {
      id: "UserDeleteAllSessions",
      tokens: "new per call",
      status: 200,
      commands: "GetItem (sid), Query byUser, UpdateItem (ended) + DeleteItem per session (3, in parallel)",
      call: (i) => ({ token: deleteAllUsers[0]![i]!.token }),
      raw: async (i) => {
        const user = deleteAllUsers[1]![i]!;
        await get(user.sid);
        const { Items = [] } = await client.send(
          new QueryCommand({
            TableName: TABLE_NAME,
            IndexName: "byUser",
            KeyConditionExpression: "#userId = :pk",
            ProjectionExpression: "#id, #tokenDigest",
            ExpressionAttributeNames: { "#userId": "userId", "#id": "id", "#tokenDigest": "tokenDigest" },
            ExpressionAttributeValues: { ":pk": S(user.userId) },
          }),
        );
        await Promise.all(Items.map((item) => endRaw(item.id!.S!, user.userId)));
      },
    },
    {
      id: "UserDeleteSession",
      status: 200,
      commands: "GetItem (sid), GetItem, UpdateItem (ended), DeleteItem",
      call: (i) => ({ token: userDeletes.token, params: { id: userDeletes.handler[i]!.id } }),
      raw: async (i) => {
        await get(userDeletes.owner.id);
        await remove(userDeletes.raw[i]!, userDeletes.owner.userId);
      },
    },
    {
      id: "UserDeactivateSession",
      status: 200,
      commands: "GetItem (sid), UpdateItem",
      call: (i) => ({ token: deactivations.token, params: { id: deactivations.handler[i]!.id } }),
      raw: async (i) => {
        await get(deactivations.owner.id);
        const condition = ownerCondition(deactivations.owner.userId);
        await client.send(
          new UpdateItemCommand({
            TableName: TABLE_NAME,
            Key: { id: S(deactivations.raw[i]!.id) },
            ConditionExpression: condition.ConditionExpression,
            UpdateExpression:
              "SET #isActive = :false, #deactivatedAt = if_not_exists(#deactivatedAt, :now), #updatedAt = if_not_exists(#deactivatedAt, :now)",
            ExpressionAttributeNames: {
              ...condition.ExpressionAttributeNames,
              "#isActive": "isActive",
              "#deactivatedAt": "deactivatedAt",
              "#updatedAt": "updatedAt",
            },
            ExpressionAttributeValues: { ...condition.ExpressionAttributeValues, ":false": { BOOL: false } },
          }),
        );
      },
    },
  ];
}

export interface OverheadFigure {
  id: RouteId;
  tokens: "one" | "new per call" | "none";
  commands: string;
  handler: Summary;
  raw: Summary | null;
  deltaP50: number;
  deltaP99: number;
}

export async function overheadPhase(bench: Bench): Promise<PhaseOutcome> {
  const service = await bench.services();
  await service.resetTable();
  const iterations = bench.options.iterations;
  const total = WARMUP + iterations;
  const list = await scenarios(service, total, (line) => bench.log(line));
  const figures: OverheadFigure[] = [];
  await withoutRequestLogs(async () => {
    for (const scenario of list) {
      bench.log(
        `overhead: ${scenario.id}${scenario.tokens === "new per call" ? ", a new token per call" : ""} (${iterations} handler calls and ${scenario.raw ? iterations : 0} raw, after ${WARMUP} warm-up)`,
      );
      const route = routeById(scenario.id);
      const handler = await service.handler(scenario.id);
      const handlerTimes: number[] = [];
      const rawTimes: number[] = [];
      const invoke = async (i: number) => {
        const event = eventFor(route, scenario.call(i));
        const context = lambdaContext(route);
        const start = performance.now();
        const result = await handler(event, context);
        const elapsed = performance.now() - start;
        expectStatus(result, scenario.status, scenario.id);
        if (i >= WARMUP) handlerTimes.push(elapsed);
      };
      const raw = async (i: number) => {
        if (!scenario.raw) return;
        const start = performance.now();
        await scenario.raw(i);
        if (i >= WARMUP) rawTimes.push(performance.now() - start);
      };
      for (let i = 0; i < total; i++) {
        if (i % 2 === 0) {
          await invoke(i);
          await raw(i);
        } else {
          await raw(i);
          await invoke(i);
        }
      }
      const h = summarize(handlerTimes);
      const r = scenario.raw ? summarize(rawTimes) : null;
      figures.push({
        id: scenario.id,
        tokens: scenario.id === "Health" || scenario.id === "Fallback" ? "none" : (scenario.tokens ?? "one"),
        commands: scenario.commands ?? "none",
        handler: h,
        raw: r,
        deltaP50: h.p50 - (r?.p50 ?? 0),
        deltaP99: h.p99 - (r?.p99 ?? 0),
      });
    }
  });
  const overall = figures.filter((f) => f.raw);
  const worst = overall.reduce((a, b) => (b.deltaP50 > a.deltaP50 ? b : a));
  const label = (f: OverheadFigure) =>
    f.tokens === "new per call" ? `${f.id} (a new token per call)` : f.id;
  return {
    report: {
      title: "3. Per-request overhead (handler in-process, warm, vs the raw DynamoDB commands)",
      table: {
        headers: [
          "route",
          "bearer token",
          "raw commands",
          "handler p50 ms",
          "handler p99 ms",
          "raw p50 ms",
          "raw p99 ms",
          "Δ p50 ms",
          "Δ p99 ms",
          "Δ p50 ≤ 0.25 ms",
        ],
        rows: figures.map((f) => [
          f.id,
          f.tokens,
          f.commands,
          ms(f.handler.p50),
          ms(f.handler.p99),
          f.raw ? ms(f.raw.p50) : "—",
          f.raw ? ms(f.raw.p99) : "—",
          ms(f.deltaP50),
          ms(f.deltaP99),
          verdict(f.deltaP50 <= TARGET_MS),
        ]),
      },
      notes: [
        `${iterations} calls per side per route, alternating handler and raw, after ${WARMUP} warm-up calls of each; DynamoDB Local in memory`,
        `largest Δ p50 among routes that touch the table: ${label(worst)}, ${ms(worst.deltaP50)} ms`,
        "user routes authenticate with a sid-bound access token, so their raw side includes the sid GetItem; admin tokens carry no sid",
        "bearer token: `one` = every call sends the same token, as a client does (its signature is verified on the first call and the result kept by the function); `new per call` = a token the function has not seen, so every call pays a full HS256 verification",
      ],
    },
    data: { iterations, warmup: WARMUP, targetMs: TARGET_MS, routes: figures },
  };
}
