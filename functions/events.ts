import { eventBridgePublisher } from "./events/eventbridge.ts";
import { createHandler } from "./events/handler.ts";
import type { Publisher } from "./events/publisher.ts";
import { webhookPublisher, webhookSigner } from "./events/webhook.ts";
import { readSecret } from "./shared/secret.ts";

// The events function on AWS, fed by the table's stream. With EVENTS_BUS_NAME it publishes to the
// stack's bus; with EVENTS_WEBHOOK_URL and EVENTS_WEBHOOK_SECRET_ARN it is the webhook target's
// delivery function (lib/events-pipeline.ts).

async function configured(): Promise<Publisher> {
  const bus = process.env.EVENTS_BUS_NAME;
  if (bus) return eventBridgePublisher(bus);
  const url = process.env.EVENTS_WEBHOOK_URL;
  const secretArn = process.env.EVENTS_WEBHOOK_SECRET_ARN;
  if (!url || !secretArn) {
    throw new Error("Set EVENTS_BUS_NAME, or EVENTS_WEBHOOK_URL and EVENTS_WEBHOOK_SECRET_ARN");
  }
  // The stack generates the secret (raw characters); an operator may replace it with a whsec_ value.
  return webhookPublisher({ url, signer: webhookSigner(await readSecret(secretArn), { allowRaw: true }) });
}

// Built on the first batch, not at import: a Secrets Manager hiccup fails one batch (Lambda retries
// it), not the function's initialisation.
let ready: Promise<Publisher> | undefined;
const publisher: Publisher = {
  async publish(events, options) {
    ready ??= configured().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return (await ready).publish(events, options);
  },
};

export const handler = createHandler(publisher);
