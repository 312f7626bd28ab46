import { describe, expect, it } from "vitest";
import { toCloudEvent } from "../../functions/events/cloud-event.ts";
import { sessionItem, streamRecord, TTL_IDENTITY } from "../fixtures/stream-records.ts";
import { dataErrors } from "../support/event-schema.ts";

// The JSON Schema docs/events.md publishes for `data` holds for every kind of event the mapping makes.

const validate = dataErrors();
const item = sessionItem();
const ended = (reason: string, actor: Record<string, string>) =>
  sessionItem({ ended: { at: "2026-11-30T12:00:00.000Z", reason, actor } });

describe("the published schema of data", () => {
  const records = {
    created: streamRecord({ eventName: "INSERT", newItem: item }),
    "created, no admin known": streamRecord({
      eventName: "INSERT",
      newItem: { ...item, createdBy: undefined },
    }),
    deactivated: streamRecord({
      eventName: "MODIFY",
      oldItem: item,
      newItem: sessionItem({
        isActive: false,
        deactivatedAt: "2026-11-30T11:00:00.000Z",
        deactivatedBy: "alice",
      }),
    }),
    "deleted by the user": streamRecord({
      eventName: "REMOVE",
      oldItem: ended("user", { type: "user", sub: "alice" }),
    }),
    "evicted by the cap": streamRecord({ eventName: "REMOVE", oldItem: ended("limit", { type: "system" }) }),
    "deleted outside the service": streamRecord({ eventName: "REMOVE", oldItem: item }),
    "expired, absolute": streamRecord({ eventName: "REMOVE", oldItem: item, userIdentity: TTL_IDENTITY }),
    "expired, idle": streamRecord({
      eventName: "REMOVE",
      oldItem: sessionItem({ idleExpiresAt: "2026-11-30T10:30:00.000Z", ipAddress: undefined }),
      userIdentity: TTL_IDENTITY,
    }),
  };
  for (const [name, record] of Object.entries(records)) {
    it(`holds for ${name}`, () => {
      const event = toCloudEvent(record);
      expect(event).toBeDefined();
      expect(validate(event?.data)).toBeUndefined();
    });
  }

  it("refuses what must never be in an event: a token, an unknown reason, an actor without a type", () => {
    const event = toCloudEvent(records.created);
    const data = event?.data as unknown as Record<string, any>;
    expect(validate({ ...data, session: { ...data.session, token: "secret" } })).toBeDefined();
    expect(validate({ ...data, reason: "because" })).toBeDefined();
    expect(validate({ ...data, actor: { sub: "ops" } })).toBeDefined();
  });
});
