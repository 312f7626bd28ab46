import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { Webhook } from "standardwebhooks";
import type { SessionEvent } from "../../functions/events/cloud-event.ts";

// A webhook receiver on loopback for the lifecycle-event tests: it refuses its first deliveries (as
// a receiver that is starting up or failing would), verifies every signature with the Standard
// Webhooks library, and deduplicates on the event id as the contract tells receivers to.

export interface Delivery {
  id: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
  accepted: boolean;
  /** Why the signature did not verify; undefined when it did. */
  signatureError?: string;
}

export interface Receiver {
  url: string;
  /** Every POST, accepted or not, in arrival order. */
  deliveries: Delivery[];
  /** The accepted events, each once (the first accepted copy), in arrival order. */
  events(): SessionEvent[];
  /** One session's events, deduplicated, in arrival order. */
  of(subject: string): SessionEvent[];
  /** Refuse the next `n` deliveries with a 503. */
  refuse(n: number): void;
  /** Stop listening (deliveries are refused at the TCP level), and listen again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(options: {
  secret: string;
  port: number;
  refuseFirst: number;
}): Promise<Receiver> {
  const verifier = new Webhook(options.secret);
  const deliveries: Delivery[] = [];
  const accepted = new Map<string, SessionEvent>();
  let refusing = options.refuseFirst;
  let server: Server | undefined;

  const listen = async () => {
    const created = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => {
        body += chunk;
      });
      req.on("end", () => {
        const id = req.headers["webhook-id"] as string | undefined;
        const delivery: Delivery = { id, headers: req.headers, body, accepted: refusing <= 0 };
        try {
          verifier.verify(body, req.headers as Record<string, string>);
        } catch (error) {
          delivery.signatureError = (error as Error).message;
        }
        deliveries.push(delivery);
        if (!delivery.accepted) {
          refusing--;
          res.writeHead(503).end();
          return;
        }
        if (id !== undefined && !accepted.has(id)) accepted.set(id, JSON.parse(body) as SessionEvent);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      created.once("error", reject);
      created.listen(options.port, "127.0.0.1", resolve);
    });
    server = created;
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
      server = undefined;
    });

  await listen();
  return {
    url: `http://127.0.0.1:${options.port}/hooks/sessions`,
    deliveries,
    events: () => [...accepted.values()],
    of: (subject) => [...accepted.values()].filter((event) => event.subject === subject),
    refuse: (n) => {
      refusing = n;
    },
    down: stop,
    up: listen,
    close: stop,
  };
}
