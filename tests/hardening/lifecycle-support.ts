import { createHash, randomBytes } from "node:crypto";
import { expect, inject } from "vitest";
import { type RequestOptions, request, signToken, type TimedResponse } from "../support/api.ts";
import { expectMatchesSpec } from "../support/openapi.ts";
import { type Runner, startRunner } from "../support/runner.ts";

// Private runners with their own lifecycle settings (idle clock, cap), each on its own table of the
// shared DynamoDB Local; every response is held to openapi.yaml like the shared runner's.

export interface LifecycleRunner {
  runner: Runner;
  /** A request to this runner whose response must match openapi.yaml. */
  call(path: string, options?: RequestOptions): Promise<TimedResponse<any>>;
  admin: string;
  /** POST /sessions/user/{user_id} as the admin; answers whatever the service says. */
  create(userId: string, body?: Record<string, unknown>): Promise<TimedResponse<any>>;
}

export async function startLifecycleRunner(
  table: string,
  env: Record<string, string>,
): Promise<LifecycleRunner> {
  const runner = await startRunner({
    DYNAMODB_ENDPOINT: inject("dynamoEndpoint"),
    TABLE_NAME: table,
    JWT_SECRET: inject("jwtSecret"),
    ...env,
  });
  const admin = await signToken({ sub: "lifecycle-admin", scope: "sessions:admin" });
  const call = async (path: string, options: RequestOptions = {}) => {
    const response = await request<any>(runner.url, path, options);
    expectMatchesSpec(options.method ?? "GET", path, response);
    return response;
  };
  const create = (userId: string, body: Record<string, unknown> = {}) =>
    call(`/sessions/user/${encodeURIComponent(userId)}`, { method: "POST", token: admin, body });
  return { runner, call, admin, create };
}

export const opaqueToken = () => `tok_${randomBytes(18).toString("base64url")}`;
export const digestOf = (token: string) => createHash("sha256").update(token).digest("hex");

/** Polls `probe` until it returns true, failing after `deadlineMs` (a bound, not a measurement). */
export async function until(what: string, probe: () => Promise<boolean>, deadlineMs = 30_000, everyMs = 200) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The user family's list with a credential: 200 while its session is usable, 401 once it is not. */
export async function usable(r: LifecycleRunner, token: string): Promise<boolean> {
  const response = await r.call("/api/sessions", { token });
  expect([200, 401]).toContain(response.status);
  return response.status === 200;
}
