import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { logger } from "./logger.ts";
import type { Publisher } from "./publisher.ts";

/** PutEvents takes at most 10 entries per call. */
const ENTRIES_PER_CALL = 10;

/**
 * Publishes to the stack's own bus: `source` "sessions", `detail-type` the event's type, `detail` the
 * whole CloudEvent. A call that fails, or an entry EventBridge refuses (FailedEntryCount), ends the
 * batch there: the events before it count as published, the caller retries from that one on.
 */
export function eventBridgePublisher(busName: string, client = new EventBridgeClient({})): Publisher {
  return {
    async publish(events) {
      let published = 0;
      for (let start = 0; start < events.length; start += ENTRIES_PER_CALL) {
        const chunk = events.slice(start, start + ENTRIES_PER_CALL);
        const Entries = chunk.map(
          (event): PutEventsRequestEntry => ({
            EventBusName: busName,
            Source: event.source,
            DetailType: event.type,
            Detail: JSON.stringify(event),
            Time: new Date(event.time),
          }),
        );
        let results: { ErrorCode?: string | undefined; ErrorMessage?: string | undefined }[];
        try {
          const output = await client.send(new PutEventsCommand({ Entries }));
          results = output.Entries ?? [];
          if (!output.FailedEntryCount) {
            published += chunk.length;
            continue;
          }
        } catch (error) {
          logger.error("PutEvents failed", { error: error as Error, firstEventId: chunk[0]?.id });
          return published;
        }
        const failed = results.findIndex((result) => result.ErrorCode !== undefined);
        const at = failed === -1 ? 0 : failed;
        for (const [index, result] of results.entries()) {
          if (result.ErrorCode === undefined) continue;
          logger.warn("EventBridge refused an event", {
            eventId: chunk[index]?.id,
            errorCode: result.ErrorCode,
            errorMessage: result.ErrorMessage,
          });
        }
        return published + at;
      }
      return published;
    },
  };
}
