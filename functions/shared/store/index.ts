// The store: the only code that speaks DynamoDB on the request path. Handlers import this door, never
// a file behind it.

export { recordUse } from "./activity.ts";
export { dynamodb, isUnavailable } from "./client.ts";
export { CREATE_BUDGET_MS, createSession, type NewSession } from "./create.ts";
export { deleteSession, deleteUserSessions, END_ALL_BUDGET_MS, type EndRequest } from "./end.ts";
export type { Actor, EndReason, Session } from "./items.ts";
export { lastUserSession, listActiveUserSessions, listSessions, listUserSessions } from "./lists.ts";
export type { Page, PageKey, PageRequest } from "./query.ts";
export { deactivateSession, getSession } from "./sessions.ts";
export { findSessionByToken } from "./tokens.ts";
