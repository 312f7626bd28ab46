import type { DynamoDBRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { isTtlDeletion, type SessionEvent, toCloudEvent } from "../../functions/events/cloud-event.ts";
import localTtlRecord from "../fixtures/local-ttl-record.json" with { type: "json" };
import { sessionItem, streamRecord, TTL_IDENTITY } from "../fixtures/stream-records.ts";

// Stream record → CloudEvent, on records shaped as AWS delivers them (and one DynamoDB Local record
// captured from its TTL sweeper), per CONTRACT section 9.

const item = sessionItem();
const resource = {
  id: item.id,
  user_id: "alice",
  ip_address: "192.168.1.1",
  user_agent: "Mozilla/5.0",
  created_at: "2026-11-30T10:00:00.000Z",
  updated_at: "2026-11-30T10:00:00.000Z",
  expires_at: "2026-12-01T10:00:00.000Z",
  is_active: true,
  deactivated_at: null,
  // The two clocks (section 8): the last use is the creation until a use is recorded; idle expiry off.
  last_active_at: "2026-11-30T10:00:00.000Z",
  idle_expires_at: null,
};
const deactivated = sessionItem({
  isActive: false,
  deactivatedAt: "2026-11-30T11:00:00.000Z",
  updatedAt: "2026-11-30T11:00:00.000Z",
  deactivatedBy: "alice",
});
const ended = (reason: string, actor: Record<string, string>) =>
  sessionItem({ ended: { at: "2026-11-30T12:00:00.000Z", reason, actor } });

const map = (record: DynamoDBRecord): SessionEvent | undefined => toCloudEvent(record);

describe("session.created", () => {
  it("is a session item's INSERT: the whole envelope, the session as an admin reads it, actor the admin", () => {
    const record = streamRecord({ eventName: "INSERT", newItem: item, eventID: "c0ffee01" });
    expect(map(record)).toEqual({
      specversion: "1.0",
      id: "c0ffee01",
      source: "sessions",
      type: "session.created",
      subject: item.id,
      time: "2026-11-30T10:00:00.000Z",
      datacontenttype: "application/json",
      data: { session: resource, reason: null, actor: { type: "admin", sub: "ops" } },
    });
  });

  it("names no admin when the item does not say who created it", () => {
    const { createdBy: _, ...older } = item;
    expect(map(streamRecord({ eventName: "INSERT", newItem: older }))?.data.actor).toEqual({ type: "admin" });
  });

  it("is the same event, id included, every time the same record is delivered", () => {
    const record = streamRecord({ eventName: "INSERT", newItem: item });
    expect(toCloudEvent(structuredClone(record))).toEqual(toCloudEvent(record));
    expect(toCloudEvent(record)?.id).toBe(record.eventID);
  });
});

describe("session.deactivated", () => {
  it("is the MODIFY that turns isActive from true to false, at deactivatedAt, by the user", () => {
    const event = map(streamRecord({ eventName: "MODIFY", oldItem: item, newItem: deactivated }));
    expect(event).toMatchObject({
      type: "session.deactivated",
      subject: item.id,
      time: "2026-11-30T11:00:00.000Z",
      data: {
        session: {
          ...resource,
          is_active: false,
          deactivated_at: "2026-11-30T11:00:00.000Z",
          updated_at: "2026-11-30T11:00:00.000Z",
        },
        reason: "user",
        actor: { type: "user", sub: "alice" },
      },
    });
  });

  it("names the session's user when the item does not say who deactivated it", () => {
    const { deactivatedBy: _, ...older } = deactivated;
    const event = map(streamRecord({ eventName: "MODIFY", oldItem: item, newItem: older }));
    expect(event?.data.actor).toEqual({ type: "user", sub: "alice" });
  });

  it("is not repeated: a second deactivation (false to false) yields nothing", () => {
    expect(
      map(streamRecord({ eventName: "MODIFY", oldItem: deactivated, newItem: deactivated })),
    ).toBeUndefined();
  });
});

describe("writes that change no state yield nothing", () => {
  it("a touch: only lastActiveAt, idleExpiresAt and ttl move", () => {
    const before = sessionItem({
      lastActiveAt: "2026-11-30T10:00:00.000Z",
      idleExpiresAt: "2026-11-30T10:30:00.000Z",
    });
    const after = sessionItem({
      lastActiveAt: "2026-11-30T10:05:00.000Z",
      idleExpiresAt: "2026-11-30T10:35:00.000Z",
      ttl: Math.ceil(Date.parse("2026-11-30T10:35:00.000Z") / 1000),
    });
    expect(map(streamRecord({ eventName: "MODIFY", oldItem: before, newItem: after }))).toBeUndefined();
  });

  it("a MODIFY whose images are equal", () => {
    expect(map(streamRecord({ eventName: "MODIFY", oldItem: item, newItem: item }))).toBeUndefined();
  });

  it("the ended marker being written (the first half of a delete), even on an active session", () => {
    const marked = ended("user", { type: "user", sub: "alice" });
    expect(map(streamRecord({ eventName: "MODIFY", oldItem: item, newItem: marked }))).toBeUndefined();
    const markedInactive = { ...deactivated, ended: marked.ended };
    expect(
      map(streamRecord({ eventName: "MODIFY", oldItem: item, newItem: markedInactive })),
    ).toBeUndefined();
  });

  it("items that are not sessions: registered tokens and per-user counters, whatever happens to them", () => {
    const token = {
      id: `token#${item.tokenDigest}`,
      sessionId: item.id,
      expiresAt: item.expiresAt,
      ttl: item.ttl,
    };
    const cap = { id: "user#alice", userId: "alice", live: 2 };
    for (const other of [token, cap]) {
      expect(map(streamRecord({ eventName: "INSERT", newItem: other }))).toBeUndefined();
      expect(map(streamRecord({ eventName: "MODIFY", oldItem: other, newItem: other }))).toBeUndefined();
      expect(map(streamRecord({ eventName: "REMOVE", oldItem: other }))).toBeUndefined();
      expect(
        map(streamRecord({ eventName: "REMOVE", oldItem: other, userIdentity: TTL_IDENTITY })),
      ).toBeUndefined();
    }
  });
});

describe("session.deleted", () => {
  const cases = [
    ["user", { type: "user", sub: "alice" }],
    ["user_all", { type: "user", sub: "alice" }],
    ["user_others", { type: "user", sub: "alice" }],
    ["admin", { type: "admin", sub: "ops" }],
    ["admin_user", { type: "admin", sub: "ops" }],
    ["limit", { type: "system" }],
  ] as const;
  for (const [reason, actor] of cases) {
    it(`takes reason "${reason}" and its actor from the ended marker of the REMOVE's old image`, () => {
      const event = map(streamRecord({ eventName: "REMOVE", oldItem: ended(reason, actor) }));
      expect(event).toMatchObject({
        type: "session.deleted",
        subject: item.id,
        time: "2026-11-30T12:00:00.000Z",
        data: { session: resource, reason, actor },
      });
    });
  }

  it("a marked item swept by TTL (its delete never completed) is still the delete it was", () => {
    const event = map(
      streamRecord({
        eventName: "REMOVE",
        oldItem: ended("admin", { type: "admin", sub: "ops" }),
        userIdentity: TTL_IDENTITY,
      }),
    );
    expect(event).toMatchObject({ type: "session.deleted", data: { reason: "admin" } });
  });

  it("a REMOVE without a marker and not by TTL (deleted outside the service) is told without a reason", () => {
    const at = new Date("2026-11-30T13:00:00.000Z");
    const event = map(streamRecord({ eventName: "REMOVE", oldItem: item, at }));
    expect(event).toMatchObject({
      type: "session.deleted",
      time: "2026-11-30T13:00:00.000Z",
      data: { session: resource, reason: null, actor: { type: "system" } },
    });
    const byUser = map(
      streamRecord({
        eventName: "REMOVE",
        oldItem: item,
        userIdentity: { type: "Service", principalId: "other.amazonaws.com" },
      }),
    );
    expect(byUser?.type).toBe("session.deleted");
  });
});

describe("session.expired", () => {
  it("is an AWS TTL deletion (REMOVE by dynamodb.amazonaws.com), at expiresAt, not when it was swept", () => {
    const record = streamRecord({
      eventName: "REMOVE",
      oldItem: item,
      userIdentity: TTL_IDENTITY,
      at: new Date("2026-12-02T18:00:00.000Z"),
    });
    expect(map(record)).toEqual({
      specversion: "1.0",
      id: record.eventID,
      source: "sessions",
      type: "session.expired",
      subject: item.id,
      time: "2026-12-01T10:00:00.000Z",
      datacontenttype: "application/json",
      data: { session: resource, reason: "absolute", actor: { type: "system" } },
    });
  });

  it("is idle, at idleExpiresAt, when the idle clock ran out first", () => {
    const idle = sessionItem({
      lastActiveAt: "2026-11-30T10:00:00.000Z",
      idleExpiresAt: "2026-11-30T10:30:00.000Z",
    });
    const event = map(streamRecord({ eventName: "REMOVE", oldItem: idle, userIdentity: TTL_IDENTITY }));
    expect(event).toMatchObject({
      type: "session.expired",
      time: "2026-11-30T10:30:00.000Z",
      data: { reason: "idle" },
    });
  });

  it("is absolute when the idle clock would have run out later", () => {
    const late = sessionItem({ idleExpiresAt: "2026-12-01T11:00:00.000Z" });
    const event = map(streamRecord({ eventName: "REMOVE", oldItem: late, userIdentity: TTL_IDENTITY }));
    expect(event).toMatchObject({ time: "2026-12-01T10:00:00.000Z", data: { reason: "absolute" } });
  });

  it("keeps a deactivated session's last state", () => {
    const event = map(
      streamRecord({ eventName: "REMOVE", oldItem: deactivated, userIdentity: TTL_IDENTITY }),
    );
    expect(event?.data.session).toMatchObject({
      is_active: false,
      deactivated_at: "2026-11-30T11:00:00.000Z",
    });
  });

  it("is DynamoDB Local's TTL deletion too: the record captured from its sweeper", () => {
    const record = localTtlRecord as unknown as DynamoDBRecord;
    expect(record.userIdentity).toBeUndefined();
    expect(record.eventName).not.toBe("REMOVE");
    expect(isTtlDeletion(record)).toBe(true);
    expect(map(record)).toEqual({
      specversion: "1.0",
      id: "585819a2-81d3-4bbf-81a6-1fa96c58e04b",
      source: "sessions",
      type: "session.expired",
      subject: "tZ3kQ0mWcXnY8sV1bR4eLfJp2aHdGu7o",
      time: "2026-11-30T02:11:59.421Z",
      datacontenttype: "application/json",
      data: {
        session: {
          id: "tZ3kQ0mWcXnY8sV1bR4eLfJp2aHdGu7o",
          user_id: "alice",
          ip_address: "192.168.1.1",
          user_agent: null,
          created_at: "2026-11-30T02:11:58.421Z",
          updated_at: "2026-11-30T02:11:58.421Z",
          expires_at: "2026-11-30T02:11:59.421Z",
          is_active: true,
          deactivated_at: null,
          last_active_at: "2026-11-30T02:11:58.421Z",
          idle_expires_at: null,
        },
        reason: "absolute",
        actor: { type: "system" },
      },
    });
  });

  it("is not a plain REMOVE, with or without another identity", () => {
    expect(isTtlDeletion(streamRecord({ eventName: "REMOVE", oldItem: item }))).toBe(false);
    expect(
      isTtlDeletion(
        streamRecord({
          eventName: "REMOVE",
          oldItem: item,
          userIdentity: { type: "Service", principalId: "x" },
        }),
      ),
    ).toBe(false);
  });
});

describe("never a credential", () => {
  it("no event of any type carries the token digest, or a field named after a token or a digest", () => {
    const records = [
      streamRecord({ eventName: "INSERT", newItem: item }),
      streamRecord({ eventName: "MODIFY", oldItem: item, newItem: deactivated }),
      streamRecord({ eventName: "REMOVE", oldItem: ended("user", { type: "user", sub: "alice" }) }),
      streamRecord({ eventName: "REMOVE", oldItem: item, userIdentity: TTL_IDENTITY }),
      streamRecord({ eventName: "REMOVE", oldItem: item }),
    ];
    const events = records.map(map);
    expect(events.map((event) => event?.type)).toEqual([
      "session.created",
      "session.deactivated",
      "session.deleted",
      "session.expired",
      "session.deleted",
    ]);
    const text = JSON.stringify(events);
    expect(text).not.toContain(item.tokenDigest as string);
    expect(text).not.toMatch(/token|digest/i);
  });
});
