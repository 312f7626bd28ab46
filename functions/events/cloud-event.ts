import type { AttributeValue as SdkAttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { AttributeValue, DynamoDBRecord } from "aws-lambda";
import { type SessionResource, toResource } from "../shared/resource.ts";
import {
  type Actor,
  type EndReason,
  fromItem,
  isSessionItem,
  type SessionItem as StoredItem,
} from "../shared/store/items.ts";

// One stream record of the sessions table in, at most one CloudEvent out (CONTRACT section 9). Pure:
// no clock, no I/O; everything an event says comes from the record itself, so a redelivered record
// yields the same event, byte for byte.

export type EventType = "session.created" | "session.deactivated" | "session.deleted" | "session.expired";
export type ExpiryReason = "absolute" | "idle";
export type { Actor };

/** The idle clock (CONTRACT section 8) is read when the item has one. */
type SessionItem = StoredItem & { idleExpiresAt?: string };

export interface SessionEvent {
  specversion: "1.0";
  /** The stream record's eventID: the same on every redelivery of that change. */
  id: string;
  source: "sessions";
  type: EventType;
  /** The session id. */
  subject: string;
  /** When the change happened (for an expiry: the instant the session expired, not the sweep). */
  time: string;
  datacontenttype: "application/json";
  data: {
    session: SessionResource;
    reason: EndReason | ExpiryReason | null;
    actor: Actor;
  };
}

/** The principal DynamoDB's TTL sweeper deletes as on AWS. */
const TTL_PRINCIPAL = "dynamodb.amazonaws.com";

/**
 * The event a record stands for, or undefined when it stands for none: an item that is not a
 * session (ids with `#`), a touch or any other write that changes no state, the ended marker being
 * written, a repeated deactivation.
 */
export function toCloudEvent(record: DynamoDBRecord): SessionEvent | undefined {
  const change = record.dynamodb;
  const key = change?.Keys?.id?.S;
  if (!change || key === undefined || key.includes("#")) return undefined;
  if (!record.eventID) throw new Error(`stream record for ${key} has no eventID`);
  const before = image(change.OldImage);
  const after = image(change.NewImage);
  const event = (
    type: EventType,
    item: SessionItem,
    time: string,
    data: Omit<SessionEvent["data"], "session">,
  ) =>
    ({
      specversion: "1.0",
      id: record.eventID as string,
      source: "sessions",
      type,
      subject: item.id,
      time,
      datacontenttype: "application/json",
      data: { session: toResource(fromItem(item)), ...data },
    }) satisfies SessionEvent;

  if (record.eventName === "INSERT") {
    if (!after) return undefined;
    return event("session.created", after, after.createdAt, {
      reason: null,
      actor: actor("admin", after.createdBy),
    });
  }
  if (record.eventName === "MODIFY") {
    // The marker is the first half of a delete; the REMOVE that follows carries the event.
    if (!before || !after || after.ended) return undefined;
    if (before.isActive && !after.isActive) {
      return event("session.deactivated", after, after.deactivatedAt ?? after.updatedAt, {
        reason: "user",
        actor: actor("user", after.deactivatedBy ?? after.userId),
      });
    }
    return undefined;
  }
  if (!before || after) return undefined;
  // A removal: REMOVE on AWS; DynamoDB Local names its TTL deletions otherwise (see isTtlDeletion).
  if (before.ended) {
    return event("session.deleted", before, before.ended.at, {
      reason: before.ended.reason,
      actor: { ...before.ended.actor },
    });
  }
  if (isTtlDeletion(record)) {
    const idle = before.idleExpiresAt !== undefined && before.idleExpiresAt < before.expiresAt;
    return event("session.expired", before, idle ? (before.idleExpiresAt as string) : before.expiresAt, {
      reason: idle ? "idle" : "absolute",
      actor: { type: "system" },
    });
  }
  // Deleted without a marker: not by the service (an operator's console or script). It did happen,
  // so it is told, without a reason nobody gave.
  return event(
    "session.deleted",
    before,
    new Date((change.ApproximateCreationDateTime ?? 0) * 1000).toISOString(),
    {
      reason: null,
      actor: { type: "system" },
    },
  );
}

/**
 * A deletion by DynamoDB's TTL sweeper. AWS: a REMOVE whose userIdentity is the DynamoDB service.
 * DynamoDB Local: no userIdentity and an eventName that is not one of the three names (measured: the
 * literal string "UNKNOWN_TO_SDK_VERSION", the Java SDK's name for a value it does not know).
 */
export function isTtlDeletion(record: DynamoDBRecord): boolean {
  const identity = record.userIdentity as { type?: string; principalId?: string } | undefined;
  if (identity) return identity.type === "Service" && identity.principalId === TTL_PRINCIPAL;
  const name = record.eventName as string | undefined;
  return name !== undefined && name !== "INSERT" && name !== "MODIFY" && name !== "REMOVE";
}

function image(attributes: Record<string, AttributeValue> | undefined): SessionItem | undefined {
  if (!attributes) return undefined;
  const item = unmarshall(attributes as Record<string, SdkAttributeValue>);
  return isSessionItem(item) ? (item as SessionItem) : undefined;
}

function actor(type: Actor["type"], sub: string | undefined): Actor {
  return sub === undefined ? { type } : { type, sub };
}
