import type { SessionEvent } from "./cloud-event.ts";
import { logger } from "./logger.ts";

/**
 * Where events go: EventBridge on AWS, a webhook (or the log) locally. `publish` takes one batch in
 * stream order and answers how many of them, from the first, are delivered (or durably handed on);
 * the caller retries from the first one that is not. An adapter never throws for a delivery failure:
 * it logs it and returns the shorter count.
 */
export interface Publisher {
  publish(events: readonly SessionEvent[], options?: PublishOptions): Promise<number>;
}

export interface PublishOptions {
  /** Epoch milliseconds after which an adapter stops retrying and returns what it has done. */
  deadline?: number;
}

/** Without a destination: every event is one debug line (POWERTOOLS_LOG_LEVEL=DEBUG shows them). */
export const logPublisher: Publisher = {
  async publish(events) {
    for (const event of events) logger.debug("session event", { event });
    return events.length;
  },
};
