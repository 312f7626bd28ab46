import { createHash, randomBytes, randomUUID } from "node:crypto";
import { DynamoDBAdapter } from "@auth/dynamodb-adapter";
import { CreateTableCommand, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocument } from "@aws-sdk/lib-dynamodb";
import type { CapacityTotals } from "../capacity.ts";
import { type Bench, type Service, TABLE_NAME } from "../context.ts";
import { DAY_MS, newId } from "../fixtures.ts";
import { cu, ms, type PhaseOutcome, ratio, verdict } from "../report.ts";
import { pool, type Summary, summarize } from "../stats.ts";

// Phase 6: Auth.js's DynamoDB adapter on its documented table (pk/sk, GSI1 on GSI1PK/GSI1SK, TTL on
// `expires`) next to our store, on the same DynamoDB Local and the same client, calls interleaved.
// Both sides are measured at the library call a request makes: our store functions, the adapter's
// methods. "validate" is what authenticating a request costs: our sid check (one strongly consistent
// GetItem) against getSessionAndUser (a GSI1 query, then a GetItem for the user).

const PEER_TABLE = "bench-authjs";
const WARMUP = 50;
const benchEnd = { reason: "admin", actor: { type: "admin", sub: "bench" } } as const;

async function createPeerTable(service: Service) {
  await service.client.send(
    new CreateTableCommand({
      TableName: PEER_TABLE,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
        { AttributeName: "GSI1PK", AttributeType: "S" },
        { AttributeName: "GSI1SK", AttributeType: "S" },
      ],
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: "GSI1",
          KeySchema: [
            { AttributeName: "GSI1PK", KeyType: "HASH" },
            { AttributeName: "GSI1SK", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
      ],
    }),
  );
  await service.client.send(
    new UpdateTimeToLiveCommand({
      TableName: PEER_TABLE,
      TimeToLiveSpecification: { AttributeName: "expires", Enabled: true },
    }),
  );
}

interface Side {
  call: string;
  latency: Summary;
  capacity: CapacityTotals;
}
interface PeerFigure {
  operation: string;
  ours: Side;
  peer: Side;
}

export async function peerPhase(bench: Bench): Promise<PhaseOutcome> {
  const service = await bench.services();
  const { store, recorder } = service;
  await service.resetTable();
  await service.dropTable(PEER_TABLE);
  await createPeerTable(service);

  // The client configuration Auth.js documents for this adapter.
  const document = DynamoDBDocument.from(service.client, {
    marshallOptions: {
      convertEmptyValues: true,
      removeUndefinedValues: true,
      convertClassInstanceToMap: true,
    },
  });
  const adapter = DynamoDBAdapter(document, { tableName: PEER_TABLE });
  const peerUser = await adapter.createUser!({
    id: "",
    email: "bench@example.com",
    emailVerified: null,
    name: "bench",
  });
  const userId = "peer-user";
  const total = WARMUP + bench.options.iterations;
  const expiresIn = () => new Date(Date.now() + DAY_MS);

  const ours = {
    create: [] as number[],
    validate: [] as number[],
    token: [] as number[],
    tokenAgain: [] as number[],
    delete: [] as number[],
  };
  const peer = { create: [] as number[], validate: [] as number[], delete: [] as number[] };
  const createOurs = (id: string, digest: string | null = null) =>
    store.createSession({
      id,
      userId,
      createdAt: new Date(),
      expiresAt: expiresIn(),
      ipAddress: "203.0.113.7",
      userAgent: "bench/1.0",
      profile: null,
      tokenDigest: digest,
    });
  // Sessions with a registered opaque token: the lookup closest to Auth.js's own opaque session token.
  const registered = Array.from({ length: total }, () =>
    createHash("sha256").update(randomBytes(24).toString("base64url")).digest("hex"),
  );
  await pool(registered, 8, async (digest) => {
    await createOurs(newId(), digest);
  });

  const timed = async (samples: number[], i: number, fn: () => unknown) => {
    const start = performance.now();
    const value = await fn();
    if (i >= WARMUP) samples.push(performance.now() - start);
    if (value === null || value === undefined) throw new Error("a peer-phase read found nothing");
  };

  bench.log(
    `peer: ${bench.options.iterations} create/validate/delete cycles on each side, after ${WARMUP} warm-up`,
  );
  for (let i = 0; i < total; i++) {
    const id = newId();
    const sessionToken = randomUUID();
    const oursFirst = i % 2 === 0;
    const pair = async (a: () => Promise<void>, b: () => Promise<void>) => {
      if (oursFirst) {
        await a();
        await b();
      } else {
        await b();
        await a();
      }
    };
    await pair(
      () => timed(ours.create, i, () => createOurs(id)),
      () =>
        timed(peer.create, i, () =>
          adapter.createSession!({ sessionToken, userId: peerUser.id, expires: expiresIn() }),
        ),
    );
    await pair(
      () => timed(ours.validate, i, () => store.getSession(id)),
      () => timed(peer.validate, i, () => adapter.getSessionAndUser!(sessionToken)),
    );
    // A token's first lookup in a container reads its token item and its session; the store keeps the
    // binding, so the same token again reads the session alone.
    await timed(ours.token, i, () => store.findSessionByToken(registered[i]!));
    await timed(ours.tokenAgain, i, () => store.findSessionByToken(registered[i]!));
    await pair(
      () => timed(ours.delete, i, () => store.deleteSession(id, {}, benchEnd).then(() => true)),
      () => timed(peer.delete, i, () => adapter.deleteSession!(sessionToken)),
    );
  }

  bench.log("peer: recording consumed capacity of each call");
  const id = newId();
  const sessionToken = randomUUID();
  const capacity = async (fn: () => unknown) => (await recorder.measure(async () => fn())).capacity;
  // A digest no lookup has seen yet, for the first-time figure.
  const unseen = createHash("sha256").update(randomBytes(24).toString("base64url")).digest("hex");
  await createOurs(newId(), unseen);
  const c = {
    oursCreate: await capacity(() => createOurs(id)),
    peerCreate: await capacity(() =>
      adapter.createSession!({ sessionToken, userId: peerUser.id, expires: expiresIn() }),
    ),
    oursValidate: await capacity(() => store.getSession(id)),
    oursToken: await capacity(() => store.findSessionByToken(unseen)),
    oursTokenAgain: await capacity(() => store.findSessionByToken(unseen)),
    peerValidate: await capacity(() => adapter.getSessionAndUser!(sessionToken)),
    oursDelete: await capacity(() => store.deleteSession(id, {}, benchEnd)),
    peerDelete: await capacity(() => adapter.deleteSession!(sessionToken)),
  };

  const side = (call: string, samples: number[], capacity: CapacityTotals): Side => ({
    call,
    latency: summarize(samples),
    capacity,
  });
  // The adapter has one read for a session, whatever credential: every validation is compared with it.
  const peerValidate = side("getSessionAndUser", peer.validate, c.peerValidate);
  const figures: PeerFigure[] = [
    {
      operation: "create session",
      ours: side("createSession", ours.create, c.oursCreate),
      peer: side("createSession", peer.create, c.peerCreate),
    },
    {
      operation: "validate",
      ours: side("getSession (sid check)", ours.validate, c.oursValidate),
      peer: peerValidate,
    },
    {
      operation: "validate an opaque token, first time in the container",
      ours: side("findSessionByToken", ours.token, c.oursToken),
      peer: peerValidate,
    },
    {
      operation: "validate an opaque token again",
      ours: side("findSessionByToken", ours.tokenAgain, c.oursTokenAgain),
      peer: peerValidate,
    },
    {
      operation: "delete session",
      ours: side("deleteSession", ours.delete, c.oursDelete),
      peer: side("deleteSession", peer.delete, c.peerDelete),
    },
  ];
  await service.dropTable(PEER_TABLE);
  await service.resetTable(TABLE_NAME);

  return {
    report: {
      title: "6. Side by side with the Auth.js DynamoDB adapter (ratio ours/peer, target ≤ 1.0)",
      table: {
        headers: [
          "operation",
          "ours",
          "peer",
          "ours p50 ms",
          "peer p50 ms",
          "p50 ratio",
          "ours p99 ms",
          "peer p99 ms",
          "p99 ratio",
          "ours CU",
          "peer CU",
          "CU ratio",
          "≤ 1.0",
        ],
        rows: figures.map((f) => {
          const p50 = f.ours.latency.p50 / f.peer.latency.p50;
          const p99 = f.ours.latency.p99 / f.peer.latency.p99;
          const units = f.ours.capacity.total / f.peer.capacity.total;
          return [
            f.operation,
            f.ours.call,
            f.peer.call,
            ms(f.ours.latency.p50),
            ms(f.peer.latency.p50),
            ratio(p50),
            ms(f.ours.latency.p99),
            ms(f.peer.latency.p99),
            ratio(p99),
            `${cu(f.ours.capacity.total)} (${describe(f.ours.capacity)})`,
            `${cu(f.peer.capacity.total)} (${describe(f.peer.capacity)})`,
            ratio(units),
            verdict(p50 <= 1 && units <= 1),
          ];
        }),
      },
      notes: [
        `${bench.options.iterations} cycles per side after ${WARMUP} warm-up, each call alternating which side goes first; same DynamoDB Local, same client`,
        "CU in brackets: table + each index; ours writes each session to the table, byUser and byCreated, the adapter to its table and GSI1",
      ],
    },
    data: { iterations: bench.options.iterations, warmup: WARMUP, operations: figures },
  };
}

function describe(c: CapacityTotals): string {
  const parts = [`table ${cu(c.table)}`, ...Object.entries(c.indexes).map(([name, v]) => `${name} ${cu(v)}`)];
  return parts.join(" + ");
}
