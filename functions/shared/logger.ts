import { Logger } from "@aws-lambda-powertools/logger";
import type { LogAttributes } from "@aws-lambda-powertools/logger/types";
import type { Context } from "aws-lambda";

// One logger per cold start. Nothing that authenticates (headers, tokens, digests, secrets) is ever
// passed to it: request lines carry ids, the route, the status and the duration only.
//
// Built on first use, not at import: building a Powertools Logger creates its console, which opens
// process.stdout and process.stderr, the largest part of what this service added to an import
// (docs/performance.md, phase first). A request asks for it as it begins (`prepare`), and it is built
// at the event loop's next turn: while the request's first call to Secrets Manager or DynamoDB is in
// flight, not ahead of it.

let built: Logger | undefined;
let lambdaContext: Context | undefined;
let preparing = false;

function powertools(): Logger {
  if (built === undefined) {
    built = new Logger({ serviceName: "sessions" });
    if (lambdaContext) built.addContext(lambdaContext);
  }
  return built;
}

export const logger = {
  info: (message: string, attributes: LogAttributes) => powertools().info(message, attributes),
  warn: (message: string, attributes: LogAttributes) => powertools().warn(message, attributes),
  error: (message: string, attributes: LogAttributes) => powertools().error(message, attributes),
  /** The invocation's Lambda context, on every line of it (cold start, request id, trace id). */
  addContext(context: Context): void {
    lambdaContext = context;
    built?.addContext(context);
  },
  /** Builds the logger at the event loop's next turn, when the first request waits on the network. */
  prepare(): void {
    if (built !== undefined || preparing) return;
    preparing = true;
    setImmediate(powertools);
  },
};
