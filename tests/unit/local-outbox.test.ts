import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type SessionEvent, toCloudEvent } from "../../functions/events/cloud-event.ts";
import type { Attempt } from "../../functions/events/webhook.ts";
import { RETRY_FOR_MS, WebhookOutbox } from "../../lib/local-outbox.ts";
import { sessionItem, streamRecord } from "../fixtures/stream-records.ts";

// The local webhook sender's durable queue: on disk before `publish` returns, one session's events in
// order, retried, given up after the retry window, picked up again after a restart.

const dirs: string[] = [];
const outboxes: WebhookOutbox[] = [];
afterEach(async () => {
  await Promise.all(outboxes.splice(0).map((outbox) => outbox.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function event(subject: string, id: string): SessionEvent {
  const mapped = toCloudEvent(
    streamRecord({ eventName: "INSERT", newItem: sessionItem({ id: subject }), eventID: id }),
  );
  if (!mapped) throw new Error("fixture maps to no event");
  return mapped;
}

const target = { url: "http://127.0.0.1:9/unused" };

/** A receiver that refuses the events named in `refuse` as many times as given, and records every attempt. */
function receiver(refuse: Record<string, number> = {}) {
  const attempts: string[] = [];
  const delivered: string[] = [];
  const attempt = async (_: unknown, e: SessionEvent): Promise<Attempt> => {
    attempts.push(e.id);
    if ((refuse[e.id] ?? 0) > 0) {
      refuse[e.id] = (refuse[e.id] as number) - 1;
      return { delivered: false, reason: "HTTP 503" };
    }
    delivered.push(e.id);
    return { delivered: true };
  };
  return { attempts, delivered, attempt };
}

function outbox(dir: string, options: ConstructorParameters<typeof WebhookOutbox>[2]) {
  const created = new WebhookOutbox(dir, target, options);
  outboxes.push(created);
  return created;
}

const until = async (condition: () => boolean, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "sessions-outbox-"));
  dirs.push(dir);
  return dir;
};

describe("webhook outbox", () => {
  it("has each event on disk when publish returns, and removes it once delivered", async () => {
    const dir = tempDir();
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const box = outbox(dir, {
      attempt: async () => {
        await held;
        return { delivered: true };
      },
    });
    box.start();

    expect(await box.publish([event("s1", "e1")])).toBe(1);
    const files = readdirSync(join(dir, "pending"));
    expect(files).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(dir, "pending", files[0] as string), "utf8")).id).toBe("e1");

    release?.();
    await until(() => box.pending === 0);
    expect(readdirSync(join(dir, "pending"))).toEqual([]);
  });

  it("keeps one session's events in order while another session's go ahead", async () => {
    const { attempt, delivered, attempts } = receiver({ a1: 2 });
    const box = outbox(tempDir(), { attempt });
    box.start();
    await box.publish([event("A", "a1"), event("B", "b1"), event("A", "a2"), event("B", "b2")]);

    await until(() => delivered.length === 4);
    expect(delivered.filter((id) => id.startsWith("a"))).toEqual(["a1", "a2"]);
    // a2 was not tried before a1 got through; B did not wait for A.
    expect(attempts.indexOf("a2")).toBeGreaterThan(attempts.lastIndexOf("a1"));
    expect(delivered.indexOf("b2")).toBeLessThan(delivered.indexOf("a1"));
  });

  it("queues an event once even when its record is read again", async () => {
    const dir = tempDir();
    const box = outbox(dir, { attempt: async () => ({ delivered: false, reason: "down" }) });
    box.start();
    await box.publish([event("s1", "e1")]);
    await box.publish([event("s1", "e1"), event("s1", "e2")]);
    expect(box.pending).toBe(2);
    expect(readdirSync(join(dir, "pending"))).toHaveLength(2);
  });

  it("survives a restart: what was not delivered goes out after start(), in the order it was queued", async () => {
    const dir = tempDir();
    const first = outbox(dir, { attempt: async () => ({ delivered: false, reason: "ECONNREFUSED" }) });
    first.start();
    await first.publish([event("s1", "e1"), event("s2", "e2"), event("s1", "e3")]);
    await first.stop();

    const { attempt, delivered } = receiver();
    const second = outbox(dir, { attempt });
    expect(second.start()).toBe(3);
    await until(() => delivered.length === 3);
    expect(delivered.filter((id) => id !== "e2")).toEqual(["e1", "e3"]);
    // New events are numbered after the ones it found.
    await second.publish([event("s1", "e4")]);
    await until(() => delivered.length === 4);
    expect(delivered.at(-1)).toBe("e4");
  });

  it("gives an event up after the retry window, keeps it in undeliverable/, and goes on with the next", async () => {
    const dir = tempDir();
    const { attempt, delivered } = receiver({ e1: 1_000 });
    const box = outbox(dir, { attempt, retryForMs: 300 });
    box.start();
    await box.publish([event("s1", "e1"), event("s1", "e2")]);

    await until(() => delivered.includes("e2"));
    expect(delivered).toEqual(["e2"]);
    expect(existsSync(join(dir, "undeliverable", "e1.json"))).toBe(true);
    expect(readdirSync(join(dir, "pending"))).toEqual([]);
  });

  it("retries for at least five minutes by default", () => {
    expect(RETRY_FOR_MS).toBeGreaterThanOrEqual(5 * 60_000);
  });
});
