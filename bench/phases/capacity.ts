import { randomBytes } from "node:crypto";
import type { RouteId } from "../../lib/routes.ts";
import { sessionTable } from "../../lib/table.ts";
import { type CapacityTotals, commandList } from "../capacity.ts";
import {
  type Bench,
  type Call,
  eventFor,
  expectStatus,
  lambdaContext,
  routeById,
  type Service,
  withoutRequestLogs,
} from "../context.ts";
import { adminToken, openSessions, plainUserToken } from "../fixtures.ts";
import { cu, type PhaseOutcome } from "../report.ts";

// Phase 4: capacity units per operation, table and each index, as DynamoDB reports them with
// ReturnConsumedCapacity INDEXES, recorded on the store's client while the real handlers run. User
// routes use a token without `sid` here so each row is the operation alone; the sid check that a
// sid-bound token adds is its own row.

export interface CapacityFigure {
  operation: string;
  route: string;
  capacity: CapacityTotals;
}

const INDEXES = Object.values(sessionTable.indexes).map((i) => i.name);

export async function invokeRoute(service: Service, id: RouteId, call: Call, status: number) {
  const route = routeById(id);
  const handler = await service.handler(id);
  return expectStatus(await handler(eventFor(route, call), lambdaContext(route)), status, id);
}

export async function capacityPhase(bench: Bench): Promise<PhaseOutcome> {
  const service = await bench.services();
  await service.resetTable();
  const admin = await adminToken();
  bench.log("capacity: opening fixture sessions");
  const user = "cap-user";
  const sessions = await openSessions(service, user, 25);
  await openSessions(service, "cap-other", 25);
  const userToken = await plainUserToken(user);
  const figures: CapacityFigure[] = [];

  const measure = async (operation: string, route: string, fn: () => Promise<unknown>) => {
    const { capacity } = await service.recorder.measure(fn);
    figures.push({ operation, route, capacity });
  };
  const viaRoute = (operation: string, id: RouteId, call: () => Call | Promise<Call>, status = 200) => {
    const route = routeById(id);
    return measure(operation, `${route.method} ${route.path}`, async () =>
      invokeRoute(service, id, await call(), status),
    );
  };

  await withoutRequestLogs(async () => {
    bench.log("capacity: measuring each operation through its handler");
    await viaRoute(
      "create",
      "AdminCreateSession",
      () => ({ token: admin, body: { userId: "cap-new" } }),
      201,
    );
    const clientToken = randomBytes(24).toString("base64url");
    let tokenSessionId = "";
    await measure("create with a client token", "POST /sessions", async () => {
      const result = await invokeRoute(
        service,
        "AdminCreateSession",
        { token: admin, body: { userId: "cap-new", token: clientToken } },
        201,
      );
      tokenSessionId = (JSON.parse(result.body as string) as { id: string }).id;
    });
    await viaRoute("get", "AdminGetSession", () => ({ token: admin, params: { id: sessions[5]!.id } }));
    await viaRoute("last", "AdminLastUserSession", () => ({ token: admin, params: { user_id: user } }));
    await viaRoute("list page (10) of a user", "AdminListUserSessions", () => ({
      token: admin,
      params: { user_id: user },
      query: { limit: "10" },
    }));
    await viaRoute("list page (10) of all sessions", "AdminListSessions", () => ({
      token: admin,
      query: { limit: "10" },
    }));
    await viaRoute("list a user's active sessions (25)", "UserListSessions", () => ({ token: userToken }));
    await viaRoute("deactivate", "UserDeactivateSession", () => ({
      token: userToken,
      params: { id: sessions[6]!.id },
    }));
    await viaRoute("delete (user)", "UserDeleteSession", () => ({
      token: userToken,
      params: { id: sessions[7]!.id },
    }));
    await viaRoute("delete (admin)", "AdminDeleteSession", () => ({
      token: admin,
      params: { id: sessions[8]!.id },
    }));
    await viaRoute("delete a session with a client token", "AdminDeleteSession", () => ({
      token: admin,
      params: { id: tokenSessionId },
    }));
    for (const count of [1, 25, 100]) {
      const owner = `cap-all-${count}`;
      await openSessions(service, owner, count);
      const token = await plainUserToken(owner);
      await viaRoute(`delete-all (${count} sessions)`, "UserDeleteAllSessions", () => ({ token }));
    }
    await measure("sid check (sid-bound access token)", "every user route", () =>
      service.store.getSession(sessions[9]!.id),
    );
    const token = randomBytes(24).toString("base64url");
    const { openSession } = await import("../../functions/shared/sessions.ts");
    const input = {
      userId: user,
      expiresAt: new Date(Date.now() + 3_600_000),
      ipAddress: null,
      userAgent: null,
      profile: null,
    };
    await openSession({ ...input, token });
    await measure(
      "registered-token check (opaque token), first time in a container",
      "every user route",
      () => service.store.findSessionByToken(service.auth.tokenDigest(token)),
    );
    await measure("registered-token check (opaque token) again", "every user route", () =>
      service.store.findSessionByToken(service.auth.tokenDigest(token)),
    );
  });

  const rows = figures.map((f) => [
    f.operation,
    f.route,
    commandList(f.capacity.commands),
    cu(f.capacity.read),
    cu(f.capacity.write),
    cu(f.capacity.table),
    ...INDEXES.map((name) => cu(f.capacity.indexes[name] ?? 0)),
    cu(f.capacity.total),
  ]);
  return {
    report: {
      title: "4. Capacity per operation (ReturnConsumedCapacity INDEXES)",
      table: {
        headers: [
          "operation",
          "route",
          "commands",
          "read CU",
          "write CU",
          "table CU",
          ...INDEXES.map((i) => `${i} CU`),
          "total CU",
        ],
        rows,
      },
      notes: [
        "read CU: strongly consistent GetItem 1 per 4 KB, eventually consistent Query 0.5 per 4 KB read; write CU: 1 per 1 KB written, per table and per index the item lands in",
      ],
    },
    data: { operations: figures },
  };
}
