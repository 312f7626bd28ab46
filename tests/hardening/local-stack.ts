import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../lib/dynamodb-local.ts";

// A private local runner (`node bin/local.ts`) for tests that need their own configuration (JWKS,
// issuer, audience, timeouts) or their own DynamoDB Local, and an HTTP helper that takes a base URL.

export interface Runner {
  url: string;
  process: ChildProcess;
  /** Everything the runner wrote to stdout and stderr so far. */
  logs(): string;
  stop(): Promise<void>;
}

export async function startRunner(env: Record<string, string>): Promise<Runner> {
  const dir = mkdtempSync(join(tmpdir(), "sessions-hardening-"));
  const port = await freePort();
  const child = spawn(process.execPath, ["bin/local.ts"], {
    env: {
      ...process.env,
      PORT: String(port),
      LOCAL_DATA_DIR: dir,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  const stop = async () => {
    process.off("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`local runner exited with ${child.exitCode}:\n${output}`);
    }
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`local runner did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, process: child, logs: () => output, stop };
}

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
  ms: number;
}

export async function call<T = any>(
  base: string,
  path: string,
  options: {
    method?: string;
    token?: string;
    authorization?: string;
    body?: unknown;
    headers?: Record<string, string>;
    signal?: AbortSignal;
  } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const started = performance.now();
  const response = await fetch(`${base}${path}`, {
    method: options.method ?? "GET",
    headers,
    body,
    signal: options.signal ?? null,
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return {
    status: response.status,
    headers: response.headers,
    body: parsed as T,
    text,
    ms: performance.now() - started,
  };
}

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
