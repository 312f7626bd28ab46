import type { AuthFailureReason } from "../../lib/log-metrics.ts";

// One error type for the whole service. `message` is the short title (seed 2's `message`), `details`
// the human explanation (seed 2's `error.details`, the admin family's `detail`). Only errors with
// `expose` reach the client as they are; anything else becomes a generic 500.

export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: string;
  readonly expose: boolean;
  readonly headers: Record<string, string>;
  /** Why a credential was refused: written on the request's log line, never sent to the client. */
  readonly authFailure: AuthFailureReason | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    details: string = message,
    options: { headers?: Record<string, string>; cause?: unknown; authFailure?: AuthFailureReason } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = code;
    this.status = status;
    this.code = code;
    this.details = details;
    this.expose = status < 500 || status === 503;
    this.headers = options.headers ?? {};
    this.authFailure = options.authFailure;
  }
}

export const badRequest = (details: string) =>
  new HttpError(400, "VALIDATION_ERROR", "Validation failed", details);

/** The same answer whatever the reason, so a caller learns nothing about a credential it holds. */
export const unauthorized = (reason: AuthFailureReason) =>
  new HttpError(401, "UNAUTHORIZED", "Unauthorized", "Invalid or missing authentication token", {
    headers: { "www-authenticate": 'Bearer error="invalid_token"' },
    authFailure: reason,
  });

export const forbidden = () =>
  new HttpError(403, "FORBIDDEN", "Forbidden", "This token does not carry the sessions:admin scope", {
    authFailure: "missing_scope",
  });

/** Seed 2's 404: the same answer whether the session is missing, expired or someone else's. */
export const sessionNotFound = (action: "delete" | "deactivate" | "view") =>
  new HttpError(
    404,
    "SESSION_NOT_FOUND",
    "Session not found or unauthorized",
    `The requested session does not exist or you don't have permission to ${action} it`,
  );

export const notFound = (details: string) => new HttpError(404, "NOT_FOUND", "Not found", details);

export const methodNotAllowed = (allow: readonly string[]) =>
  new HttpError(405, "METHOD_NOT_ALLOWED", "Method not allowed", `Allowed methods: ${allow.join(", ")}`, {
    headers: { allow: allow.join(", ") },
  });

export const tokenConflict = () =>
  new HttpError(409, "TOKEN_CONFLICT", "Conflict", "This token is already registered to a live session");

export const payloadTooLarge = (limit: number) =>
  new HttpError(413, "PAYLOAD_TOO_LARGE", "Payload too large", `Request body must be at most ${limit} bytes`);

export const unsupportedMediaType = () =>
  new HttpError(
    415,
    "UNSUPPORTED_MEDIA_TYPE",
    "Unsupported media type",
    "Request body must be application/json",
  );

export const RETRY_AFTER_SECONDS = 1;

export const serviceUnavailable = (cause?: unknown) =>
  new HttpError(
    503,
    "SERVICE_UNAVAILABLE",
    "Service unavailable",
    "The session store is unavailable; retry later",
    {
      headers: { "retry-after": String(RETRY_AFTER_SECONDS) },
      cause,
    },
  );

export const internalError = (cause?: unknown) =>
  new HttpError(500, "INTERNAL_ERROR", "Internal server error", "An unexpected error occurred", { cause });

/** Raised by the store; handlers turn it into their family's 404. */
export class SessionNotFound extends Error {
  override readonly name = "SessionNotFound";
}

/** Raised by the store when a client-supplied token is already registered to a live session. */
export class TokenAlreadyRegistered extends Error {
  override readonly name = "TokenAlreadyRegistered";
}

/** Raised by the store when a create would exceed the per-user cap under the `deny_new` policy. */
export class SessionLimitReached extends Error {
  override readonly name = "SessionLimitReached";
}

export const sessionLimitReached = (max: number) =>
  new HttpError(
    409,
    "SESSION_LIMIT_REACHED",
    "Session limit reached",
    `This user already has the maximum of ${max} live sessions`,
  );
