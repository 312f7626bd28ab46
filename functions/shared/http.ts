import { randomUUID } from "node:crypto";
import middy, { type MiddlewareObj, type Request } from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { authFailure, type Counts } from "../../lib/log-metrics.ts";
import { type Family, familyOf, routeIdOf } from "../../lib/routes.ts";
import type { Principal } from "./auth.ts";
import {
  badRequest,
  HttpError,
  internalError,
  payloadTooLarge,
  serviceUnavailable,
  unsupportedMediaType,
} from "./errors.ts";
import { logger } from "./logger.ts";

export const MAX_BODY_BYTES = 16 * 1024;

/** An HTTP API v2.0 event once the stack has run: `auth` set, `body` parsed (or undefined). */
export interface RouteEvent extends Omit<APIGatewayProxyEventV2, "body"> {
  auth: Principal;
  body: unknown;
}

/** What a handler returns; the family's renderer serializes `body` and adds the common headers. */
export interface Reply {
  statusCode: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** What the request changed, written on its log line (the metrics of lib/log-metrics.ts); never sent. */
  counts?: Counts;
  /** `body` is sent as it is (a string, base64 when `base64`), not as JSON: the docs and their files. */
  file?: { base64: boolean };
}

/** Seed 2's success envelope (timestamp and requestId are added when it is rendered). */
export const ok = (message: string, data?: unknown): Reply => ({
  statusCode: 200,
  body: data === undefined ? { success: true, message } : { success: true, message, data },
});

/** A plain JSON resource, as the admin family answers. */
export const json = (body: unknown, statusCode = 200, headers?: Record<string, string>): Reply => ({
  statusCode,
  body,
  ...(headers && { headers }),
});

/** The same reply, with what the request changed counted on its log line. */
export const counted = (counts: Counts, reply: Reply): Reply => ({ ...reply, counts });
/** A non-JSON answer; `headers` carry its content type. */
export const file = (body: string, headers: Record<string, string>, base64 = false): Reply => ({
  statusCode: 200,
  headers,
  body,
  file: { base64 },
});

export type Stack = ReturnType<typeof routeStack>;

/** No authentication (`/health`, the `$default` route); errors are rendered in the family the path belongs to. */
export const publicRoute = (): Stack => routeStack(undefined);

/**
 * The middy stack every route starts from: an answer before the function's own timeout, and the
 * family's renderer. Authenticated routes add theirs in functions/shared/authenticated.ts, kept apart
 * so that a function without authentication bundles neither jose nor the DynamoDB client.
 */
export function routeStack(family: Family | undefined) {
  return middy<RouteEvent, Reply, Error, Context>({
    timeoutEarlyInMillis: 250,
    timeoutEarlyResponse: () => {
      throw serviceUnavailable(new Error("No answer from the store before the function's timeout"));
    },
  }).use(responder(family));
}

// --- middlewares --------------------------------------------------------------------------------

/**
 * Renders every answer, success or error, in its family's shape and logs one line per request. Every
 * line of the invocation carries the Lambda context (cold start, function request id, X-Ray trace id).
 */
function responder(fixedFamily: Family | undefined): MiddlewareObj<RouteEvent, Reply, Error, Context> {
  const started = new WeakMap<object, { at: number; requestId: string }>();
  const begin = (event: RouteEvent) => {
    const state = { at: performance.now(), requestId: event.requestContext?.requestId || randomUUID() };
    started.set(event, state);
    return state;
  };
  const finish = (
    request: Request<RouteEvent, Reply, Error, Context>,
    reply: Reply,
    refused?: HttpError["authFailure"],
  ) => {
    const event = request.event;
    const { at, requestId } = started.get(event) ?? begin(event);
    const result = render(fixedFamily ?? familyOf(event.rawPath ?? ""), reply, requestId);
    logger.info("request", {
      requestId,
      // Fixed in each function's bundle (lib/bundle.ts); looked up where every route runs in one process.
      routeId: process.env.SESSIONS_ROUTE_ID ?? routeIdOf(event.routeKey),
      method: event.requestContext?.http?.method,
      path: event.rawPath,
      status: result.statusCode,
      durationMs: Math.round((performance.now() - at) * 100) / 100,
      ...reply.counts,
      ...(refused && { [authFailure.field]: refused }),
    });
    request.response = result as Reply;
  };
  return {
    before: (request) => {
      logger.addContext(request.context);
      begin(request.event);
    },
    after: (request) => finish(request, request.response ?? json(null, 204)),
    onError: (request) => {
      const error = toHttpError(request.error);
      const requestId = started.get(request.event)?.requestId;
      if (error.status === 500) logger.error("unhandled error", { requestId, error: request.error as Error });
      // A 503 is logged with its cause (throttling, a timeout, Secrets Manager down): an operator must
      // tell which dependency failed, and the answer itself says nothing about it.
      if (error.status === 503)
        logger.warn("service unavailable", { requestId, error: request.error as Error });
      finish(
        request,
        errorReply(fixedFamily ?? familyOf(request.event.rawPath ?? ""), error),
        error.authFailure,
      );
    },
  };
}

export function bodyLimit(): MiddlewareObj<RouteEvent, Reply, Error, Context> {
  return {
    before: ({ event }) => {
      const body = event.body;
      if (typeof body !== "string") return;
      const bytes = event.isBase64Encoded ? Buffer.from(body, "base64").length : Buffer.byteLength(body);
      if (bytes > MAX_BODY_BYTES) throw payloadTooLarge(MAX_BODY_BYTES);
    },
  };
}

// --- rendering ----------------------------------------------------------------------------------

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  const status = (error as { statusCode?: unknown; status?: unknown } | null)?.statusCode;
  if (status === 415) return unsupportedMediaType();
  if (status === 422)
    return badRequest("request body must be valid JSON (and may not use __proto__ or constructor keys)");
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new HttpError(status, "BAD_REQUEST", "Bad request", "The request could not be processed");
  }
  return internalError();
}

export function errorReply(family: Family, error: HttpError): Reply {
  return {
    statusCode: error.status,
    headers: error.headers,
    body:
      family === "user"
        ? { success: false, message: error.message, error: { code: error.code, details: error.details } }
        : { detail: error.details, code: error.code },
  };
}

function render(family: Family, reply: Reply, requestId: string): APIGatewayProxyStructuredResultV2 {
  let body = reply.body;
  if (family === "user" && typeof body === "object" && body !== null && "success" in body) {
    body = { ...body, timestamp: new Date().toISOString(), requestId };
  }
  return {
    statusCode: reply.statusCode,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      ...reply.headers,
      "x-request-id": requestId,
    },
    body: reply.file ? String(body) : reply.statusCode === 204 ? "" : JSON.stringify(body),
    ...(reply.file?.base64 && { isBase64Encoded: true }),
  };
}
