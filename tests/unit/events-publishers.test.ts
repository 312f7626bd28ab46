import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { mockClient } from "aws-sdk-client-mock";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type SessionEvent, toCloudEvent } from "../../functions/events/cloud-event.ts";
import { eventBridgePublisher } from "../../functions/events/eventbridge.ts";
import { createHandler } from "../../functions/events/handler.ts";
import type { Publisher } from "../../functions/events/publisher.ts";
import {
  postEvent,
  retryDelay,
  WebhookConfigError,
  webhookPublisher,
  webhookSigner,
  webhookTarget,
} from "../../functions/events/webhook.ts";
import { freePort } from "../../lib/dynamodb-local.ts";
import { lambdaContext } from "../fixtures/events.ts";
import { sessionItem, streamRecord } from "../fixtures/stream-records.ts";

// The publisher port's two adapters (EventBridge, the webhook) and the events function around them.

const SECRET = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;

function sessionEvent(n: number): SessionEvent {
  const event = toCloudEvent(
    streamRecord({
      eventName: "INSERT",
      newItem: sessionItem({ id: `session-${n}` }),
      eventID: `event-${n}`,
    }),
  );
  if (!event) throw new Error("fixture maps to no event");
  return event;
}

describe("EventBridge adapter", () => {
  const eventBridge = mockClient(EventBridgeClient);
  afterEach(() => eventBridge.reset());

  it("puts each event on the bus as detail-type = type, detail = the whole event, ten per call, in order", async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    const events = Array.from({ length: 23 }, (_, n) => sessionEvent(n));

    const published = await eventBridgePublisher("sessions-bus", new EventBridgeClient({})).publish(events);

    expect(published).toBe(23);
    const calls = eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries ?? []);
    expect(calls.map((entries) => entries.length)).toEqual([10, 10, 3]);
    expect(calls.flat()[0]).toEqual({
      EventBusName: "sessions-bus",
      Source: "sessions",
      DetailType: "session.created",
      Detail: JSON.stringify(events[0]),
      Time: new Date(events[0]?.time as string),
    });
    expect(calls.flat().map((entry) => JSON.parse(entry.Detail as string).id)).toEqual(
      events.map((e) => e.id),
    );
  });

  it("counts only the events before the first entry EventBridge refused (FailedEntryCount)", async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 0, Entries: [] })
      .resolvesOnce({
        FailedEntryCount: 1,
        Entries: [
          { EventId: "a" },
          { EventId: "b" },
          { ErrorCode: "InternalFailure", ErrorMessage: "x" },
          { EventId: "d" },
        ],
      });
    const events = Array.from({ length: 14 }, (_, n) => sessionEvent(n));
    expect(await eventBridgePublisher("bus", new EventBridgeClient({})).publish(events)).toBe(12);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(2);
  });

  it("counts what was published before a call that failed outright", async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 0, Entries: [] })
      .rejects(new Error("throttled"));
    const events = Array.from({ length: 25 }, (_, n) => sessionEvent(n));
    expect(await eventBridgePublisher("bus", new EventBridgeClient({})).publish(events)).toBe(10);
  });
});

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

describe("webhook adapter", () => {
  let server: Server;
  let url: string;
  const received: Received[] = [];
  let failNext = 0;
  let status = 204;

  beforeAll(async () => {
    const port = await freePort();
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on("end", () => {
        received.push({ headers: req.headers, body });
        if (failNext > 0) {
          failNext--;
          res.writeHead(503).end();
        } else res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${port}/hooks/sessions`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  afterEach(() => {
    received.length = 0;
    failNext = 0;
    status = 204;
  });

  it("POSTs the CloudEvent as application/cloudevents+json, signed so the Standard Webhooks library verifies it", async () => {
    const event = sessionEvent(1);
    const attempt = await postEvent(webhookTarget(url, SECRET), event);

    expect(attempt).toEqual({ delivered: true });
    const [request] = received;
    expect(request?.headers["content-type"]).toBe("application/cloudevents+json");
    expect(request?.headers["webhook-id"]).toBe(event.id);
    expect(request?.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(JSON.parse(request?.body as string)).toEqual(event);
    const verified = new Webhook(SECRET).verify(
      request?.body as string,
      request?.headers as Record<string, string>,
    );
    expect(verified).toEqual(event);
    // Another key does not verify it.
    const other = new Webhook(`whsec_${Buffer.from("another-key-another-key-0123456").toString("base64")}`);
    expect(() => other.verify(request?.body as string, request?.headers as Record<string, string>)).toThrow();
  });

  it("sends webhook-id and webhook-timestamp but no signature without a secret", async () => {
    await postEvent(webhookTarget(url, undefined), sessionEvent(2), {
      now: new Date("2026-11-30T10:00:00.000Z"),
    });
    expect(received[0]?.headers).toMatchObject({
      "webhook-id": "event-2",
      "webhook-timestamp": "1796032800",
    });
    expect(received[0]?.headers["webhook-signature"]).toBeUndefined();
  });

  it("counts anything but a 2xx as undelivered: a 3xx (not followed), a 4xx, a 5xx, a refused connection", async () => {
    for (const code of [302, 410, 500]) {
      status = code;
      expect(await postEvent(webhookTarget(url, undefined), sessionEvent(3))).toEqual({
        delivered: false,
        reason: `HTTP ${code}`,
      });
    }
    const closed = `http://127.0.0.1:${await freePort()}/`;
    expect(await postEvent(webhookTarget(closed, undefined), sessionEvent(3))).toEqual({
      delivered: false,
      reason: "ECONNREFUSED",
    });
  });

  it("retries a refused delivery with backoff, in order, until the receiver takes it", async () => {
    failNext = 3;
    const waits: number[] = [];
    const publisher = webhookPublisher(webhookTarget(url, SECRET), async (ms) => {
      waits.push(ms);
    });
    const events = [sessionEvent(1), sessionEvent(2)];

    expect(await publisher.publish(events)).toBe(2);

    expect(received.map((r) => r.headers["webhook-id"])).toEqual([
      "event-1",
      "event-1",
      "event-1",
      "event-1",
      "event-2",
    ]);
    expect(waits).toHaveLength(3);
    expect(waits[2]).toBeGreaterThan(waits[0] as number);
  });

  it("stops at the deadline and counts only the events delivered before", async () => {
    failNext = 1_000;
    const publisher = webhookPublisher(webhookTarget(url, undefined), async () => {});
    const published = await publisher.publish([sessionEvent(1), sessionEvent(2)], {
      deadline: Date.now() + 50,
    });
    expect(published).toBe(0);
    expect(received.every((r) => r.headers["webhook-id"] === "event-1")).toBe(true);
  });

  it("backs off from about half a second, doubling, to at most 30 s", () => {
    expect(retryDelay(1, () => 1)).toBe(500);
    expect(retryDelay(2, () => 1)).toBe(1_000);
    expect(retryDelay(5, () => 1)).toBe(8_000);
    expect(retryDelay(20, () => 1)).toBe(30_000);
    expect(retryDelay(20, () => 0)).toBe(15_000);
  });
});

describe("webhook settings", () => {
  it("refuses a bad URL or secret with one line that names the variable", () => {
    const bad: [string, string | undefined][] = [
      ["not a url", undefined],
      ["ftp://127.0.0.1/hook", undefined],
      ["http://127.0.0.1/hook", "s3cret-without-prefix-0123456789abcdef"],
      ["http://127.0.0.1/hook", "whsec_"],
      ["http://127.0.0.1/hook", "whsec_not base64!"],
      ["http://127.0.0.1/hook", "whsec_YWJjZ"],
    ];
    for (const [url, secret] of bad) {
      let error: unknown;
      try {
        webhookTarget(url, secret);
      } catch (caught) {
        error = caught;
      }
      expect(error, `${url} ${secret}`).toBeInstanceOf(WebhookConfigError);
      expect((error as Error).message).toMatch(/^EVENTS_WEBHOOK_(URL|SECRET)\b[^\n]*$/);
    }
  });

  it("takes a raw key (the stack's generated secret) only where the caller allows it", () => {
    const raw = "A".repeat(64);
    expect(() => webhookSigner(raw)).toThrow(WebhookConfigError);
    const signer = webhookSigner(raw, { allowRaw: true });
    const signature = signer.sign("id", new Date(0), "{}");
    expect(new Webhook(`whsec_${Buffer.from(raw).toString("base64")}`).sign("id", new Date(0), "{}")).toBe(
      signature,
    );
  });
});

describe("events function", () => {
  const records = [
    streamRecord({ eventName: "INSERT", newItem: sessionItem({ id: "s1" }) }),
    streamRecord({ eventName: "INSERT", newItem: { id: "token#abc", sessionId: "s1" } }),
    streamRecord({ eventName: "INSERT", newItem: sessionItem({ id: "s2" }) }),
    streamRecord({ eventName: "INSERT", newItem: sessionItem({ id: "s3" }) }),
  ];
  const recording = (count: (n: number) => number) => {
    const batches: SessionEvent[][] = [];
    const publisher: Publisher = {
      async publish(events) {
        batches.push([...events]);
        return count(events.length);
      },
    };
    return { publisher, batches };
  };

  it("publishes the batch's events in stream order and reports no failure when all are published", async () => {
    const { publisher, batches } = recording((n) => n);
    const result = await createHandler(publisher)({ Records: records }, lambdaContext());
    expect(result).toEqual({ batchItemFailures: [] });
    expect(batches.map((batch) => batch.map((e) => e.subject))).toEqual([["s1", "s2", "s3"]]);
  });

  it("reports the record of the first unpublished event, so Lambda retries from it and keeps the order", async () => {
    const { publisher } = recording(() => 1);
    const result = await createHandler(publisher)({ Records: records }, lambdaContext());
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[2]?.dynamodb?.SequenceNumber }] });
  });

  it("publishes what comes before a record it cannot read, and reports that record", async () => {
    const broken = streamRecord({
      eventName: "INSERT",
      newItem: sessionItem({ id: "s9", profile: "{not json" }),
    });
    const { publisher, batches } = recording((n) => n);
    const result = await createHandler(publisher)(
      { Records: [records[0], broken, records[2]] as never },
      lambdaContext(),
    );
    expect(batches.map((batch) => batch.map((e) => e.subject))).toEqual([["s1"]]);
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: broken.dynamodb?.SequenceNumber }] });
  });

  it("gives the publisher a deadline inside the function's remaining time", async () => {
    let deadline: number | undefined;
    const publisher: Publisher = {
      async publish(events, options) {
        deadline = options?.deadline;
        return events.length;
      },
    };
    await createHandler(publisher)({ Records: records }, lambdaContext(60_000));
    expect(deadline).toBeGreaterThan(Date.now() + 40_000);
    expect(deadline).toBeLessThan(Date.now() + 60_000);
  });
});
