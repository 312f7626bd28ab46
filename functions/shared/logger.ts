import fs from "node:fs";
import type { Context } from "aws-lambda";

// The request path's logger: one JSON line per call on standard output, with the fields Powertools Logger
// writes (level, message, timestamp, service, cold_start, function_*, xray_trace_id), so log queries,
// the metric filters and the events function (which keeps Powertools, functions/events/logger.ts) read
// alike. Written here rather than taken from Powertools: its modules were 21 KB of each 266 KB bundle
// and, even loaded late, about 4% of importing one (6 M of 141 M instructions under callgrind,
// docs/performance.md, cold start); the request path writes three kinds of line and needs none of its
// sampling, buffering or formatters.
//
// Nothing that authenticates (headers, tokens, digests, secrets) is ever passed to it: request lines
// carry ids, the route, the status and the duration only.

export type LogAttributes = Record<string, unknown>;
type Level = "DEBUG" | "INFO" | "WARN" | "ERROR";

const SEVERITY: Record<Level, number> = { DEBUG: 8, INFO: 12, WARN: 16, ERROR: 20 };
/** Powertools' names and severities, TRACE and CRITICAL included, and SILENT above them all. */
const THRESHOLDS: Record<string, number> = { TRACE: 6, ...SEVERITY, CRITICAL: 24, SILENT: 28 };

let threshold: number | undefined;
let service: string | undefined;
let lambda: LogAttributes = {};
let invocations = 0;

/** Powertools' variable, so one setting governs both loggers; Lambda's own log level otherwise. */
function levelThreshold(): number {
  const name = (process.env.POWERTOOLS_LOG_LEVEL || process.env.AWS_LAMBDA_LOG_LEVEL || "INFO").toUpperCase();
  return THRESHOLDS[name] ?? SEVERITY.INFO;
}

/** An Error as Powertools writes one: name, message, stack, and its cause the same way. */
function serializable(_key: string, value: unknown): unknown {
  if (!(value instanceof Error)) return typeof value === "bigint" ? value.toString() : value;
  return {
    name: value.name,
    message: value.message,
    stack: value.stack,
    ...(value.cause !== undefined && { cause: value.cause }),
  };
}

function write(level: Level, message: string, attributes: LogAttributes): void {
  threshold ??= levelThreshold();
  if (SEVERITY[level] < threshold) return;
  service ??= process.env.POWERTOOLS_SERVICE_NAME || "sessions";
  const trace = process.env._X_AMZN_TRACE_ID?.match(/Root=([^;]+)/)?.[1];
  const line = {
    level,
    message,
    timestamp: new Date().toISOString(),
    service,
    ...lambda,
    ...(trace && { xray_trace_id: trace }),
    ...attributes,
  };
  emit(`${JSON.stringify(line, serializable)}\n`);
}

/**
 * Writes straight to file descriptor 1, which Lambda (and `npm start`'s terminal) reads. Not
 * `process.stdout`: the first use of that getter builds a stream over the pipe, about 5 ms of the
 * first request of every cold start (docs/performance.md, cold start). A pipe that is full and
 * non-blocking (someone else made the stream) answers EAGAIN: the rest of the line then goes through
 * `process.stdout`, which queues it. Like Console, a log line never fails a request.
 */
function emit(text: string): void {
  let rest = Buffer.from(text);
  try {
    while (rest.length > 0) rest = rest.subarray(fs.writeSync(1, rest));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EAGAIN") process.stdout.write(rest, () => {});
  }
}

export const logger = {
  debug: (message: string, attributes: LogAttributes = {}) => write("DEBUG", message, attributes),
  info: (message: string, attributes: LogAttributes = {}) => write("INFO", message, attributes),
  warn: (message: string, attributes: LogAttributes = {}) => write("WARN", message, attributes),
  error: (message: string, attributes: LogAttributes = {}) => write("ERROR", message, attributes),
  /**
   * The invocation's Lambda context, on every line until the next one: what Powertools'
   * injectLambdaContext adds. The first invocation of an instance is its cold start (a provisioned
   * instance's is not).
   */
  addContext(context: Context): void {
    invocations++;
    lambda = {
      cold_start:
        invocations === 1 && process.env.AWS_LAMBDA_INITIALIZATION_TYPE !== "provisioned-concurrency",
      function_arn: context.invokedFunctionArn,
      function_memory_size: Number(context.memoryLimitInMB) || undefined,
      function_name: context.functionName,
      function_request_id: context.awsRequestId,
    };
  },
};
