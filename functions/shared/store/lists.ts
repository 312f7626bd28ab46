import { readFeed } from "./feed.ts";
import type { Session } from "./items.ts";
import { newest, type Page, type PageRequest, readPage } from "./query.ts";

// The lists: all sessions (admin), one user's (admin: every state; user: active ones), the last one.

export function listSessions(page: PageRequest, now = new Date()): Promise<Page> {
  return readFeed(page, now);
}

export function listUserSessions(userId: string, page: PageRequest, now = new Date()): Promise<Page> {
  return readPage("byUser", userId, page, now);
}

/** The user family's list: active, unexpired sessions only. */
export function listActiveUserSessions(userId: string, page: PageRequest, now = new Date()): Promise<Page> {
  return readPage("byUser", userId, page, now, {
    filter: {
      expression: "#isActive = :true",
      names: { "#isActive": "isActive" },
      values: { ":true": true },
    },
  });
}

export function lastUserSession(userId: string, now = new Date()): Promise<Session | undefined> {
  return newest("byUser", userId, now);
}
