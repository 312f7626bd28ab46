// The service's own metrics come from the log lines it already writes: CloudWatch metric filters
// (lib/monitoring.ts) read these fields, so a function pays nothing at run time for them (no metrics
// library, no extra line; docs/deploy.md has the measurements). Plain data, shared by the functions
// that write the fields and the stack that reads them.

/**
 * Numeric fields of the request line (functions/shared/http.ts, `counted()`): each line adds its
 * value to the metric. A field is absent when the request changed nothing of its kind.
 */
export const requestCounts = {
  sessionsCreated: "SessionsCreated",
  sessionsDeleted: "SessionsDeleted",
  sessionsDeactivated: "SessionsDeactivated",
  /** Sessions the per-user cap deleted to make room for a new one (`SESSION_LIMIT_POLICY=evict_oldest`). */
  sessionsEvicted: "SessionsEvicted",
} as const;

export type RequestCount = keyof typeof requestCounts;
export type Counts = Partial<Record<RequestCount, number>>;

/** On every 401 and 403 request line: why the credential was refused (the metric's dimension). */
export const authFailure = { field: "authFailure", metric: "AuthFailures", dimension: "Reason" } as const;

export const authFailureReasons = [
  /** No `Authorization: Bearer …` header, or one over the size limit. */
  "missing",
  /**
   * Neither a valid JWT nor a token registered to a live session: a bad signature, an expired or
   * malformed JWT, an unknown opaque token (or one whose session was deleted or expired, which takes
   * its registration along), an opaque token on an admin route.
   */
  "invalid",
  /** A valid `sid`-bound JWT whose session is deleted, deactivated, expired or another user's, or a registered opaque token of a deactivated session. */
  "session_ended",
  /** A valid JWT without the `sessions:admin` scope on an admin route (403). */
  "missing_scope",
] as const;

export type AuthFailureReason = (typeof authFailureReasons)[number];

/**
 * Numeric fields the events function writes on its own lines (one per batch is enough), counted by
 * the filters `Monitoring.watchEventsPipeline` puts on its log group.
 */
export const eventCounts = {
  eventsPublished: "EventsPublished",
  /** Events that could not be published and were left to the retries, then the dead-letter queue. */
  eventsFailed: "EventsFailed",
  sessionsExpired: "SessionsExpired",
} as const;
