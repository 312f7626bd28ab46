import { type Bench, withoutRequestLogs } from "../context.ts";
import { adminToken, seedSessions } from "../fixtures.ts";
import { ms, type PhaseOutcome, verdict } from "../report.ts";
import { summarize } from "../stats.ts";
import { invokeRoute } from "./capacity.ts";

// `GET /sessions/user/{user_id}/last` when 10,000 expired sessions that DynamoDB's sweeper has not
// removed yet are newer than the user's live one (the sweeper lags up to days on AWS): the store skips
// them in doubling batches, so the route answers in a few round trips instead of one per item.

const BACKLOG = 10_000;
const TARGET_MS = 1_000;
const RUNS = 20;

export async function backlogPhase(bench: Bench): Promise<PhaseOutcome> {
  const service = await bench.services();
  await service.resetTable();
  const admin = await adminToken();
  const user = "backlog-user";
  const live = await invokeRoute(
    service,
    "AdminCreateUserSession",
    { token: admin, params: { user_id: user } },
    201,
  );
  const liveId = (JSON.parse(live.body as string) as { id: string }).id;
  bench.log(
    `backlog: planting ${BACKLOG.toLocaleString("en-US")} expired, unswept sessions newer than the live one`,
  );
  await seedSessions(service, {
    sessions: BACKLOG,
    perUser: BACKLOG,
    prefix: "backlog",
    progress: (line) => bench.log(`backlog: ${line}`),
    user,
    expiresAt: new Date(Date.now() - 60_000).toISOString(),
    from: Date.now() + 1_000,
  });
  const samples: number[] = [];
  let capacity = 0;
  let calls = 0;
  await withoutRequestLogs(async () => {
    for (let i = 0; i < RUNS + 2; i++) {
      const started = performance.now();
      const { value: result, capacity: used } = await service.recorder.measure(() =>
        invokeRoute(service, "AdminLastUserSession", { token: admin, params: { user_id: user } }, 200),
      );
      const elapsed = performance.now() - started;
      if ((JSON.parse(result.body as string) as { id: string }).id !== liveId) {
        throw new Error("/last did not answer the live session");
      }
      if (i >= 2) samples.push(elapsed);
      capacity = used.read;
      calls = used.calls;
    }
  });
  const latency = summarize(samples);
  return {
    report: {
      title: `/last behind ${BACKLOG.toLocaleString("en-US")} newer expired sessions (target ≤ ${TARGET_MS} ms)`,
      table: {
        headers: ["route", "p50 ms", "p99 ms", "max ms", "DynamoDB calls", "read units", "target"],
        rows: [
          [
            "GET /sessions/user/{user_id}/last",
            ms(latency.p50),
            ms(latency.p99),
            ms(latency.max),
            calls,
            Math.round(capacity * 10) / 10,
            verdict(latency.max <= TARGET_MS),
          ],
        ],
      },
      notes: [
        `${RUNS} calls through the real handler after 2 warm-up calls, the capacity recorder on (ReturnConsumedCapacity adds little); DynamoDB Local on this machine`,
      ],
    },
    data: { backlog: BACKLOG, latency, calls, readCapacity: capacity },
  };
}
