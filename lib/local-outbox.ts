import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { SessionEvent } from "../functions/events/cloud-event.ts";
import type { Publisher } from "../functions/events/publisher.ts";
import { type Attempt, postEvent, retryDelay, type WebhookTarget } from "../functions/events/webhook.ts";
import { logger } from "../functions/shared/logger.ts";

// The local webhook sender's durable queue. `publish` writes each event to a file (synced to disk)
// and returns: from then on the event survives a receiver that is down and a restart of `npm start`,
// so the stream poller may move its checkpoint past it. Delivery runs behind it, one queue per
// session (subject): a session's events go out in order, one at a time, while other sessions'
// events are not held up by it. An event is retried with backoff for RETRY_FOR_MS; then it is
// logged as undeliverable and kept in `undeliverable/` for an operator to look at.

/** How long an event is retried before it is given up (the contract asks for at least 5 minutes). */
export const RETRY_FOR_MS = 15 * 60_000;
/** Deliveries in flight at once, across sessions. */
const CONCURRENCY = 4;

interface Entry {
  file: string;
  event: SessionEvent;
  failures: number;
  firstFailure?: number;
}

export interface OutboxOptions {
  retryForMs?: number;
  /** Replaced in tests; `attempt` is the HTTP POST of functions/events/webhook.ts. */
  attempt?: (target: WebhookTarget, event: SessionEvent, signal: AbortSignal) => Promise<Attempt>;
}

export class WebhookOutbox implements Publisher {
  private readonly pendingDir: string;
  private readonly deadDir: string;
  private readonly queues = new Map<string, Entry[]>();
  private readonly workers = new Set<Promise<void>>();
  private readonly ids = new Set<string>();
  private readonly stopping = new AbortController();
  private readonly retryForMs: number;
  private readonly attempt: NonNullable<OutboxOptions["attempt"]>;
  private next = 0;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  private readonly target: WebhookTarget;

  constructor(dir: string, target: WebhookTarget, options: OutboxOptions = {}) {
    this.target = target;
    this.pendingDir = join(dir, "pending");
    this.deadDir = join(dir, "undeliverable");
    this.retryForMs = options.retryForMs ?? RETRY_FOR_MS;
    this.attempt = options.attempt ?? ((target, event, signal) => postEvent(target, event, { signal }));
    mkdirSync(this.pendingDir, { recursive: true });
    mkdirSync(this.deadDir, { recursive: true });
  }

  /** Picks up what a previous run left undelivered, in the order it was queued. Returns how many. */
  start(): number {
    const files = readdirSync(this.pendingDir)
      .filter((name) => /^\d{16}\.json$/.test(name))
      .sort();
    for (const name of files) {
      const event = JSON.parse(readFileSync(join(this.pendingDir, name), "utf8")) as SessionEvent;
      this.next = Math.max(this.next, Number(name.slice(0, 16)) + 1);
      this.enqueue({ file: join(this.pendingDir, name), event, failures: 0 });
    }
    return files.length;
  }

  async publish(events: readonly SessionEvent[]): Promise<number> {
    for (const event of events) {
      // A record the poller reads again after a restart must not queue its event twice.
      if (this.ids.has(event.id)) continue;
      const name = `${String(this.next++).padStart(16, "0")}.json`;
      const file = join(this.pendingDir, name);
      await writeDurably(file, JSON.stringify(event));
      this.enqueue({ file, event, failures: 0 });
    }
    return events.length;
  }

  /** Events not yet delivered (queued or being retried). */
  get pending(): number {
    return this.ids.size;
  }

  /** Stops delivering; what is not delivered stays on disk for the next start. */
  async stop(): Promise<void> {
    this.stopping.abort();
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.allSettled([...this.workers]);
  }

  private enqueue(entry: Entry): void {
    this.ids.add(entry.event.id);
    const queue = this.queues.get(entry.event.subject);
    if (queue) {
      queue.push(entry);
      return;
    }
    this.queues.set(entry.event.subject, [entry]);
    const worker = this.deliver(entry.event.subject).finally(() => this.workers.delete(worker));
    this.workers.add(worker);
  }

  private async deliver(subject: string): Promise<void> {
    const queue = this.queues.get(subject) as Entry[];
    while (queue.length > 0 && !this.stopping.signal.aborted) {
      const entry = queue[0] as Entry;
      const attempt = await this.limited(() => this.attempt(this.target, entry.event, this.stopping.signal));
      if (this.stopping.signal.aborted) break;
      if (attempt.delivered) {
        await unlink(entry.file).catch(() => {});
        this.done(queue, entry);
        continue;
      }
      entry.failures++;
      entry.firstFailure ??= Date.now();
      const fields = { eventId: entry.event.id, type: entry.event.type, subject, reason: attempt.reason };
      if (Date.now() - entry.firstFailure >= this.retryForMs) {
        logger.error("webhook event undeliverable", {
          ...fields,
          failures: entry.failures,
          keptIn: this.deadDir,
        });
        await rename(entry.file, join(this.deadDir, `${entry.event.id}.json`)).catch(() => {});
        this.done(queue, entry);
        continue;
      }
      if (entry.failures === 1 || entry.failures % 10 === 0) {
        logger.warn("webhook delivery failed, retrying", { ...fields, failures: entry.failures });
      }
      await this.sleep(retryDelay(entry.failures));
    }
    // Left in place when stopping: the files are picked up again by the next start().
    if (queue.length === 0) this.queues.delete(subject);
  }

  private done(queue: Entry[], entry: Entry): void {
    queue.shift();
    this.ids.delete(entry.event.id);
  }

  private async limited<T>(work: () => Promise<T>): Promise<T> {
    while (this.inFlight >= CONCURRENCY) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight++;
    try {
      return await work();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  /** Waits `ms`, or less when the outbox stops. */
  private sleep(ms: number): Promise<void> {
    const signal = this.stopping.signal;
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      signal.addEventListener("abort", wake);
    });
  }
}

/** Written to a temporary name, synced, then renamed: a crash leaves the whole file or none. */
async function writeDurably(file: string, content: string): Promise<void> {
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, "w");
  try {
    await handle.writeFile(content);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
}
