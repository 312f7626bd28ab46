import type { Logger } from "@aws-lambda-powertools/logger";
import type { LogAttributes } from "@aws-lambda-powertools/logger/types";
import type { Context } from "aws-lambda";

// One logger per cold start. Nothing that authenticates (headers, tokens, digests, secrets) is ever
// passed to it: request lines carry ids, the route, the status and the duration only.
//
// Loaded and built on first use, not at import (docs/performance.md, phase first): building a
// Powertools Logger creates its console, which opens process.stdout and process.stderr, and
// evaluating its 21 KB of modules was the largest part of what the service added to an import. A
// request asks for it as it begins (`prepare`); it is loaded at the event loop's next turn, while the
// request's first call to Secrets Manager or DynamoDB is in flight. Lines asked for before that are
// written, in order, as soon as it is there; the responder waits for them (`written`) before it
// answers, so that no line of a cold start is lost when the function is frozen.
//
// The dynamic import is the only one in the service's code: Powertools shares no module with the
// SDK, so esbuild makes only Powertools' own modules lazy (tests/infra/bundle-budget.test.ts).

let loaded: Promise<Logger> | undefined;
let built: Logger | undefined;
let lambdaContext: Context | undefined;
let queued = 0;
let last: Promise<unknown> = Promise.resolve();

function load(): Promise<Logger> {
  loaded ??= import("@aws-lambda-powertools/logger").then(({ Logger }) => {
    built = new Logger({ serviceName: "sessions" });
    if (lambdaContext) built.addContext(lambdaContext);
    return built;
  });
  return loaded;
}

function write(level: "info" | "warn" | "error", message: string, attributes: LogAttributes): void {
  if (built !== undefined && queued === 0) {
    built[level](message, attributes);
    return;
  }
  queued++;
  last = load().then((logger) => {
    queued--;
    logger[level](message, attributes);
  });
}

export const logger = {
  info: (message: string, attributes: LogAttributes) => write("info", message, attributes),
  warn: (message: string, attributes: LogAttributes) => write("warn", message, attributes),
  error: (message: string, attributes: LogAttributes) => write("error", message, attributes),
  /** The invocation's Lambda context, on every line of it (cold start, request id, trace id). */
  addContext(context: Context): void {
    lambdaContext = context;
    built?.addContext(context);
  },
  /** Loads the logger at the event loop's next turn, when the first request waits on the network. */
  prepare(): void {
    if (loaded !== undefined) return;
    setImmediate(load);
  },
  /** Settles once every line asked for so far is written: at once, but during a cold start. */
  written: (): Promise<unknown> => last,
};
