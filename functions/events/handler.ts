import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import type { eventCounts } from "../../lib/log-metrics.ts";
import { type SessionEvent, toCloudEvent } from "./cloud-event.ts";
import { logger } from "./logger.ts";
import type { Publisher } from "./publisher.ts";

/** Time kept back from the function's deadline to report the batch's result. */
const REPORT_MARGIN_MS = 10_000;

/**
 * The events function: a batch of stream records in, their events published in order, and the
 * partial batch response Lambda needs to keep that order. The first record whose event is not
 * published (or that cannot be read) is reported, and Lambda retries from it: records before it are
 * done, none after it is skipped. The same function runs on the local stream (lib/local-events.ts).
 */
export function createHandler(publisher: Publisher) {
  return async (event: DynamoDBStreamEvent, context?: Pick<Context, "getRemainingTimeInMillis">) => {
    const pending: { event: SessionEvent; record: DynamoDBRecord }[] = [];
    let unreadable: DynamoDBRecord | undefined;
    for (const record of event.Records) {
      try {
        const mapped = toCloudEvent(record);
        if (mapped) pending.push({ event: mapped, record });
      } catch (error) {
        // A record the mapping cannot read is a bug to see, not a reason to drop the ones before it.
        logger.error("stream record could not be read", {
          error: error as Error,
          eventID: record.eventID,
          sequenceNumber: record.dynamodb?.SequenceNumber,
        });
        unreadable = record;
        break;
      }
    }
    const deadline = context ? Date.now() + context.getRemainingTimeInMillis() - REPORT_MARGIN_MS : undefined;
    const published = await publisher.publish(
      pending.map((p) => p.event),
      deadline === undefined ? {} : { deadline },
    );
    const failed = published < pending.length ? pending[published]?.record : unreadable;
    // One line per batch; the stack's metric filters count these fields (lib/log-metrics.ts).
    const counts = {
      eventsPublished: published,
      eventsFailed: pending.length - published + (unreadable ? 1 : 0),
      sessionsExpired: pending.slice(0, published).filter((p) => p.event.type === "session.expired").length,
    } satisfies Record<keyof typeof eventCounts, number>;
    logger.info("events batch", { records: event.Records.length, ...counts });
    return {
      batchItemFailures: failed ? [{ itemIdentifier: failed.dynamodb?.SequenceNumber ?? "" }] : [],
    } satisfies DynamoDBBatchResponse;
  };
}
