import type { TimedResponse as Reply } from "../support/api.ts";

// Helpers for tests that run their own local runner (see tests/support/runner.ts): an HTTP helper
// that takes a base URL, a bounded pool, and the 401 shape check.

/** The HTTP helper of tests/support/api.ts, taking the base URL of a private runner. */
export { request as call, type TimedResponse as Reply } from "../support/api.ts";
export { type Runner, startRunner } from "../support/runner.ts";

/** Runs `task` over `items` with at most `limit` in flight; results keep the input order. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
) {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The 401 every refused credential gets, in the family's own shape. */
export function expectUnauthorized(
  expect: typeof import("vitest").expect,
  reply: Reply,
  family: "user" | "admin",
  label = "",
) {
  expect(reply.status, `${label}: ${reply.text}`).toBe(401);
  expect(reply.headers.get("www-authenticate"), label).toBe('Bearer error="invalid_token"');
  expect(reply.headers.get("x-request-id"), label).toMatch(/^[0-9a-f-]{36}$/);
  if (family === "user") {
    expect(reply.body, label).toEqual({
      success: false,
      message: "Unauthorized",
      error: { code: "UNAUTHORIZED", details: expect.any(String) },
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      requestId: reply.headers.get("x-request-id"),
    });
  } else {
    expect(reply.body, label).toMatchObject({ detail: expect.any(String) });
    expect(reply.body.success, label).toBeUndefined();
  }
}
