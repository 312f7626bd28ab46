import { Webhook } from "standardwebhooks";
import type { SessionEvent } from "./cloud-event.ts";
import { logger } from "./logger.ts";
import type { Publisher } from "./publisher.ts";

// The webhook adapter: each event is one POST of the CloudEvent in structured mode
// (`application/cloudevents+json`), signed per the Standard Webhooks spec when a secret is set.
// Signing is the spec's own reference library (`standardwebhooks`), the one receivers verify with.

export class WebhookConfigError extends Error {}

export interface WebhookTarget {
  url: string;
  /** Absent: events are sent unsigned (webhook-id and webhook-timestamp are still set). */
  signer?: Webhook;
}

/** A POST that has not answered within this long counts as failed. */
const POST_TIMEOUT_MS = 10_000;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/** Validates EVENTS_WEBHOOK_URL and EVENTS_WEBHOOK_SECRET; a bad value is one line naming the fix. */
export function webhookTarget(url: string, secret: string | undefined): WebhookTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WebhookConfigError(`EVENTS_WEBHOOK_URL must be an http:// or https:// URL, got "${url}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new WebhookConfigError(`EVENTS_WEBHOOK_URL must be an http:// or https:// URL, got "${url}"`);
  }
  return secret === undefined ? { url } : { url, signer: webhookSigner(secret) };
}

/**
 * `whsec_<base64>` as the spec defines it. A secret without the prefix is taken as raw key bytes
 * only where the caller says so (the stack's generated secret, see lib/events-pipeline.ts).
 */
export function webhookSigner(secret: string, options: { allowRaw?: boolean } = {}): Webhook {
  if (!secret.startsWith("whsec_")) {
    if (options.allowRaw && secret.length >= 32) return new Webhook(secret, { format: "raw" });
    throw new WebhookConfigError(
      "EVENTS_WEBHOOK_SECRET must be whsec_ followed by base64 (e.g. whsec_$(openssl rand -base64 32))",
    );
  }
  // Checked here: the library's decoder lets some malformed lengths through (e.g. 5 characters).
  if (!BASE64.test(secret.slice("whsec_".length))) {
    throw new WebhookConfigError(
      "EVENTS_WEBHOOK_SECRET: the part after whsec_ is not base64 (e.g. whsec_$(openssl rand -base64 32))",
    );
  }
  return new Webhook(secret);
}

/** Standard base64, padded, at least one byte. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/;

export type Attempt = { delivered: true } | { delivered: false; reason: string };

/**
 * One delivery attempt. A 2xx answer delivers; anything else (another status, a refused connection,
 * no answer in time) does not. Redirects are not followed: the configured URL is the receiver.
 * The timestamp and signature are made per attempt, so a retry is never refused as stale.
 */
export async function postEvent(
  target: WebhookTarget,
  event: SessionEvent,
  options: { now?: Date; signal?: AbortSignal } = {},
): Promise<Attempt> {
  const now = options.now ?? new Date();
  const body = JSON.stringify(event);
  const headers: Record<string, string> = {
    "content-type": "application/cloudevents+json",
    "user-agent": "sessions-service",
    "webhook-id": event.id,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
  };
  if (target.signer) headers["webhook-signature"] = target.signer.sign(event.id, now, body);
  try {
    const response = await fetch(target.url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: options.signal
        ? AbortSignal.any([options.signal, AbortSignal.timeout(POST_TIMEOUT_MS)])
        : AbortSignal.timeout(POST_TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (response.status >= 200 && response.status < 300) return { delivered: true };
    return { delivered: false, reason: `HTTP ${response.status}` };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { delivered: false, reason: cause?.code ?? (error as Error).name };
  }
}

/** Exponential backoff with jitter: about 0.5 s, 1 s, 2 s … up to 30 s between attempts. */
export function retryDelay(failures: number, random = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}

/**
 * The adapter the AWS delivery function uses: the stream is its durable queue, so events are sent
 * one after the other, each retried with backoff until it is delivered or the deadline (the
 * function's remaining time) comes; the caller then reports the first undelivered one as the batch's
 * failure and Lambda retries from there, so one session's events stay in order.
 */
export function webhookPublisher(target: WebhookTarget, sleep = defaultSleep): Publisher {
  return {
    async publish(events, options = {}) {
      const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
      for (const [index, event] of events.entries()) {
        for (let failures = 1; ; failures++) {
          const attempt = await postEvent(target, event);
          if (attempt.delivered) break;
          const delay = retryDelay(failures);
          logger.warn("webhook delivery failed", { eventId: event.id, reason: attempt.reason, failures });
          if (Date.now() + delay >= deadline) return index;
          await sleep(delay);
        }
      }
      return events.length;
    },
  };
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
