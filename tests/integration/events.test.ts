import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../functions/events/cloud-event.ts";
import { freePort } from "../../lib/dynamodb-local.ts";
import { request, signToken } from "../support/api.ts";
import { dataErrors } from "../support/event-schema.ts";
import { type Runner, startRunner } from "../support/runner.ts";
import { type Receiver, startReceiver } from "../support/webhook-receiver.ts";

// Lifecycle events end to end (CONTRACT section 9): `npm start` with EVENTS_WEBHOOK_URL and
// EVENTS_WEBHOOK_SECRET, a receiver on loopback that refuses its first deliveries, and every kind of
// change driven over HTTP. Each session is driven to an end (deleted or expired) and the test waits
// for that last event: one session's events arrive in order, so once its last one is in, its whole
// sequence is known, and an event a refused or repeated write had wrongly produced would be in it.

const JWT_SECRET = "events-secret-events-secret-0123456789abcdef";
const WEBHOOK_SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const ADMIN_SUB = "ops-events";
/** The runner's per-user cap (SESSION_MAX_PER_USER); the scenarios stay under it but for the eviction. */
const CAP = 3;

type Expected = { type: string; reason: string | null; actor: { type: string; sub?: string } };

/**
 * One kind of change: it drives the API and returns, per session it touched, the exact sequence of
 * events the receiver must get. New lifecycle routes add a scenario here.
 */
interface Scenario {
  name: string;
  run(ctx: Context): Promise<Record<string, Expected[]>>;
}

interface Context {
  base: string;
  admin: string;
  user(sub: string): Promise<string>;
  create(userId: string, body?: Record<string, unknown>): Promise<Record<string, any>>;
  /** Resources as the admin read them during the scenario, by session id (last read wins). */
  seen: Map<string, Record<string, any>>;
}

const created = { type: "session.created", reason: null, actor: { type: "admin", sub: ADMIN_SUB } };
const deleted = (reason: string, actor: Expected["actor"]): Expected => ({
  type: "session.deleted",
  reason,
  actor,
});

const scenarios: Scenario[] = [
  {
    name: "create, then the user deletes it",
    async run({ base, create, user }) {
      const session = await create("ev-alice");
      const res = await request(base, `/api/sessions/${session.id}`, {
        method: "DELETE",
        token: await user("ev-alice"),
      });
      expect(res.status, res.text).toBe(200);
      return { [session.id]: [created, deleted("user", { type: "user", sub: "ev-alice" })] };
    },
  },
  {
    name: "deactivate, deactivate again (no second event), then an admin delete",
    async run({ base, admin, create, user, seen }) {
      const session = await create("ev-bob");
      const bob = await user("ev-bob");
      for (let i = 0; i < 2; i++) {
        const res = await request(base, `/api/sessions/${session.id}/deactivate`, {
          method: "PATCH",
          token: bob,
        });
        expect(res.status, res.text).toBe(200);
      }
      const read = await request(base, `/sessions/${session.id}`, { token: admin });
      seen.set(session.id, read.body);
      const res = await request(base, `/sessions/${session.id}`, { method: "DELETE", token: admin });
      expect(res.status, res.text).toBe(200);
      return {
        [session.id]: [
          created,
          { type: "session.deactivated", reason: "user", actor: { type: "user", sub: "ev-bob" } },
          deleted("admin", { type: "admin", sub: ADMIN_SUB }),
        ],
      };
    },
  },
  {
    name: "delete all of a user's sessions",
    async run({ base, create, user }) {
      const first = await create("ev-carol");
      const second = await create("ev-carol", { token: `tok_${randomBytes(18).toString("base64url")}` });
      const res = await request(base, "/api/sessions", { method: "DELETE", token: await user("ev-carol") });
      expect(res.status, res.text).toBe(200);
      const end = deleted("user_all", { type: "user", sub: "ev-carol" });
      return { [first.id]: [created, end], [second.id]: [created, end] };
    },
  },
  {
    name: "a refused delete of another user's session (404) yields nothing; the admin's delete does",
    async run({ base, admin, create, user }) {
      const session = await create("ev-dave");
      const refused = await request(base, `/api/sessions/${session.id}`, {
        method: "DELETE",
        token: await user("ev-eve"),
      });
      expect(refused.status, refused.text).toBe(404);
      const refusedDeactivate = await request(base, `/api/sessions/${session.id}/deactivate`, {
        method: "PATCH",
        token: await user("ev-eve"),
      });
      expect(refusedDeactivate.status).toBe(404);
      const res = await request(base, `/sessions/${session.id}`, { method: "DELETE", token: admin });
      expect(res.status, res.text).toBe(200);
      return { [session.id]: [created, deleted("admin", { type: "admin", sub: ADMIN_SUB })] };
    },
  },
  {
    name: "a refused create (the token is taken: 409) yields nothing",
    async run({ base, admin, create, user }) {
      const token = `tok_${randomBytes(18).toString("base64url")}`;
      const session = await create("ev-frank", { token });
      const refused = await request(base, "/sessions", {
        method: "POST",
        token: admin,
        body: { userId: "ev-refused", token },
      });
      expect(refused.status, refused.text).toBe(409);
      const res = await request(base, `/api/sessions/${session.id}`, {
        method: "DELETE",
        token: await user("ev-frank"),
      });
      expect(res.status, res.text).toBe(200);
      return { [session.id]: [created, deleted("user", { type: "user", sub: "ev-frank" })] };
    },
  },
  {
    name: "sign out the other devices, then this one",
    async run({ base, create }) {
      const [here, other1, other2] = [await create("ev-ivy"), await create("ev-ivy"), await create("ev-ivy")];
      const others = await request(base, "/api/sessions?scope=others", {
        method: "DELETE",
        token: here?.access_token,
      });
      expect(others.status, others.text).toBe(200);
      const self = await request(base, "/api/sessions/current", {
        method: "DELETE",
        token: here?.access_token,
      });
      expect(self.status, self.text).toBe(200);
      const byOthers = deleted("user_others", { type: "user", sub: "ev-ivy" });
      return {
        [here?.id]: [created, deleted("user", { type: "user", sub: "ev-ivy" })],
        [other1?.id]: [created, byOthers],
        [other2?.id]: [created, byOthers],
      };
    },
  },
  {
    name: "an admin ends every session of a user",
    async run({ base, admin, create }) {
      const sessions = [await create("ev-jack"), await create("ev-jack")];
      const res = await request(base, "/sessions/user/ev-jack", { method: "DELETE", token: admin });
      expect(res.status, res.text).toBe(200);
      const end = deleted("admin_user", { type: "admin", sub: ADMIN_SUB });
      return Object.fromEntries(sessions.map((session) => [session.id, [created, end]]));
    },
  },
  {
    name: `the per-user cap (${CAP}) evicts the oldest session`,
    async run({ base, admin, create }) {
      const sessions = [];
      for (let i = 0; i <= CAP; i++) sessions.push(await create("ev-kim"));
      const res = await request(base, "/sessions/user/ev-kim", { method: "DELETE", token: admin });
      expect(res.status, res.text).toBe(200);
      const [oldest, ...rest] = sessions;
      const end = deleted("admin_user", { type: "admin", sub: ADMIN_SUB });
      return {
        [oldest?.id]: [created, deleted("limit", { type: "system" })],
        ...Object.fromEntries(rest.map((session) => [session.id, [created, end]])),
      };
    },
  },
  {
    name: "using a session (its recorded last use moves) yields nothing",
    async run({ base, admin, create }) {
      const session = await create("ev-lee");
      const before = (await request(base, `/sessions/${session.id}`, { token: admin })).body;
      for (let i = 0; i < 2; i++) {
        // Past the touch interval (SESSION_TOUCH_SECONDS=1), so each use is written.
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        const res = await request(base, "/api/sessions", { token: session.access_token });
        expect(res.status, res.text).toBe(200);
      }
      const after = (await request(base, `/sessions/${session.id}`, { token: admin })).body;
      expect(after.last_active_at > before.last_active_at, "the use was recorded").toBe(true);
      const res = await request(base, "/api/sessions/current", {
        method: "DELETE",
        token: session.access_token,
      });
      expect(res.status, res.text).toBe(200);
      return { [session.id]: [created, deleted("user", { type: "user", sub: "ev-lee" })] };
    },
  },
  {
    name: "expiry two seconds after creation (with a registered token and the user's cap item expiring too)",
    async run({ create }) {
      // The token item and the cap item expire with the session: DynamoDB Local's own TTL job stops at
      // such items, so this also proves npm start's sweeper (lib/local-ttl.ts).
      const session = await create("ev-grace", {
        expires_at: new Date(Date.now() + 2_000).toISOString(),
        token: `tok_${randomBytes(18).toString("base64url")}`,
      });
      return {
        [session.id]: [created, { type: "session.expired", reason: "absolute", actor: { type: "system" } }],
      };
    },
  },
];

async function until(what: string | (() => string), condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("lifecycle events through npm start", () => {
  let receiver: Receiver;
  let runner: Runner;
  const expected: Record<string, Expected[]> = {};
  const byScenario = new Map<string, Record<string, Expected[]>>();
  const creations = new Map<string, Record<string, any>>();
  const credentials: string[] = [];
  const seen = new Map<string, Record<string, any>>();

  beforeAll(async () => {
    receiver = await startReceiver({ secret: WEBHOOK_SECRET, port: await freePort(), refuseFirst: 3 });
    runner = await startRunner({
      JWT_SECRET,
      EVENTS_WEBHOOK_URL: receiver.url,
      EVENTS_WEBHOOK_SECRET: WEBHOOK_SECRET,
      SESSION_MAX_PER_USER: String(CAP),
      SESSION_TOUCH_SECONDS: "1",
    });
    const admin = await signToken({ sub: ADMIN_SUB, scope: "sessions:admin" }, { secret: JWT_SECRET });
    const context: Context = {
      base: runner.url,
      admin,
      user: (sub) => signToken({ sub }, { secret: JWT_SECRET }),
      async create(userId, body = {}) {
        const res = await request(runner.url, "/sessions", {
          method: "POST",
          token: admin,
          body: { userId, ...body },
        });
        expect(res.status, res.text).toBe(201);
        creations.set(res.body.id, res.body);
        credentials.push(res.body.token, res.body.access_token);
        return res.body;
      },
      seen,
    };
    for (const scenario of scenarios) {
      const sequences = await scenario.run(context);
      byScenario.set(scenario.name, sequences);
      Object.assign(expected, sequences);
    }
    const ends = Object.keys(expected);
    const missing = () => ends.filter((id) => receiver.of(id).length < (expected[id] as Expected[]).length);
    await until(
      () =>
        `every session's last event; still missing: ${JSON.stringify(missing().map((id) => ({ id, got: receiver.of(id).map((e) => [e.type, e.data.reason]), want: expected[id]?.map((e) => [e.type, e.reason]) })))}`,
      () => missing().length === 0,
      90_000,
    );
  }, 240_000);

  afterAll(async () => {
    await runner?.stop();
    await receiver?.close();
  });

  for (const scenario of scenarios) {
    it(`${scenario.name}: exactly the expected events, in order`, () => {
      const sequences = byScenario.get(scenario.name) ?? {};
      expect(Object.keys(sequences).length).toBeGreaterThan(0);
      for (const id of Object.keys(sequences)) {
        const got = receiver
          .of(id)
          .map((event) => ({ type: event.type, reason: event.data.reason, actor: event.data.actor }));
        expect(got, id).toEqual(sequences[id]);
      }
    });
  }

  it("refused the first deliveries and got every event again under the same id, each signed and verified", () => {
    const refused = receiver.deliveries.filter((delivery) => !delivery.accepted);
    expect(refused.length).toBe(3);
    const delivered = new Set(receiver.events().map((event) => event.id));
    for (const delivery of refused) expect(delivered.has(delivery.id as string)).toBe(true);
    expect(receiver.deliveries.map((delivery) => delivery.signatureError)).toEqual(
      receiver.deliveries.map(() => undefined),
    );
    for (const delivery of receiver.deliveries) {
      expect(delivery.headers["content-type"]).toBe("application/cloudevents+json");
      expect(JSON.parse(delivery.body).id).toBe(delivery.id);
    }
  });

  it("gives every event the CloudEvents envelope and data as docs/events.md's schema says, never a credential", () => {
    const validate = dataErrors();
    const events = receiver.events();
    const text = JSON.stringify(events);
    for (const credential of credentials) expect(text).not.toContain(credential);
    expect(text).not.toMatch(/token|digest/i);
    expect(events.some((event) => event.data.session.user_id === "ev-refused")).toBe(false);
    for (const event of events) {
      expect(Object.keys(event).sort()).toEqual([
        "data",
        "datacontenttype",
        "id",
        "source",
        "specversion",
        "subject",
        "time",
        "type",
      ]);
      expect(event).toMatchObject({
        specversion: "1.0",
        source: "sessions",
        datacontenttype: "application/json",
      });
      expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(validate(event.data), event.id).toBeUndefined();
      expect(event.data.session.id).toBe(event.subject);
    }
  });

  it("says when each change happened: creation, deactivation, and the expiry itself (not the sweep)", () => {
    for (const [id, creation] of creations) {
      const [first, ...rest] = receiver.of(id) as [SessionEvent, ...SessionEvent[]];
      const { token: _t, access_token: _a, ...resource } = creation;
      expect(first.data.session).toEqual(resource);
      expect(first.time).toBe(creation.created_at);
      const last = rest.at(-1) as SessionEvent;
      if (last.type === "session.expired") expect(last.time).toBe(creation.expires_at);
      if (last.type === "session.deleted") expect(last.time >= creation.created_at).toBe(true);
      const deactivation = rest.find((event) => event.type === "session.deactivated");
      if (deactivation) {
        const read = seen.get(id) as Record<string, any>;
        expect(deactivation.time).toBe(read.deactivated_at);
        expect(deactivation.data.session).toEqual(read);
      }
    }
  });
});

describe("an event survives a receiver that is down and a restart of npm start", () => {
  let dataDir: string | undefined;
  let receiver: Receiver;
  let runner: Runner | undefined;

  afterAll(async () => {
    await runner?.stop();
    await receiver?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("delivers what was queued while the receiver was down after the restart, and replays nothing", async () => {
    dataDir = mkdtempSync(join(tmpdir(), "sessions-events-restart-"));
    receiver = await startReceiver({ secret: WEBHOOK_SECRET, port: await freePort(), refuseFirst: 0 });
    const env = { JWT_SECRET, EVENTS_WEBHOOK_URL: receiver.url, EVENTS_WEBHOOK_SECRET: WEBHOOK_SECRET };
    runner = await startRunner(env, { dataDir });
    const admin = await signToken({ sub: ADMIN_SUB, scope: "sessions:admin" }, { secret: JWT_SECRET });
    const create = async (base: string, userId: string) => {
      const res = await request(base, "/sessions", { method: "POST", token: admin, body: { userId } });
      expect(res.status, res.text).toBe(201);
      return res.body.id as string;
    };

    const before = await create(runner.url, "ev-restart");
    await until("the first event", () => receiver.of(before).length === 1, 30_000);

    await receiver.down();
    const during = await create(runner.url, "ev-restart");
    const res = await request(runner.url, `/api/sessions/${during}`, {
      method: "DELETE",
      token: await signToken({ sub: "ev-restart" }, { secret: JWT_SECRET }),
    });
    expect(res.status, res.text).toBe(200);
    // Both events are in the durable queue, past the checkpoint, before npm start goes down.
    const pending = join(dataDir, "events", "outbox", "pending");
    await until("two events queued on disk", () => readdirSync(pending).length === 2, 30_000);
    expect(await runner.stop()).toBe(0);
    runner = undefined;

    await receiver.up();
    receiver.refuse(2);
    runner = await startRunner(env, { dataDir });
    const gone = await request(runner.url, `/sessions/${before}`, { method: "DELETE", token: admin });
    expect(gone.status, gone.text).toBe(200);
    await until(
      "every event after the restart",
      () => receiver.of(during).length === 2 && receiver.of(before).length === 2,
      60_000,
    );

    expect(receiver.of(during).map((event) => [event.type, event.data.reason])).toEqual([
      ["session.created", null],
      ["session.deleted", "user"],
    ]);
    expect(receiver.of(before).map((event) => event.type)).toEqual(["session.created", "session.deleted"]);
    // Delivered once before the restart, never again after it: the checkpoint held.
    const firstId = receiver.of(before)[0]?.id;
    expect(
      receiver.deliveries.filter((delivery) => delivery.id === firstId && delivery.accepted),
    ).toHaveLength(1);
    expect(receiver.deliveries.every((delivery) => delivery.signatureError === undefined)).toBe(true);
  }, 240_000);
});
