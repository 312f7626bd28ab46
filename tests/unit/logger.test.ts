import fs from "node:fs";
import type { Context } from "aws-lambda";
import { afterEach, describe, expect, it, vi } from "vitest";

// The request path's logger (functions/shared/logger.ts) writes the fields Powertools Logger writes,
// so that log queries and metric filters read its lines and the events function's alike.

async function freshLogger(level = "INFO") {
  vi.resetModules();
  vi.stubEnv("POWERTOOLS_LOG_LEVEL", level);
  vi.stubEnv(
    "_X_AMZN_TRACE_ID",
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
  );
  vi.stubEnv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
  const lines: string[] = [];
  const write = vi.spyOn(fs, "writeSync").mockImplementation(((fd: number, chunk: Uint8Array) => {
    expect(fd).toBe(1);
    lines.push(Buffer.from(chunk).toString("utf8"));
    return chunk.length;
  }) as typeof fs.writeSync);
  const { logger } = await import("../../functions/shared/logger.ts");
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, records, write };
}

const context = (awsRequestId: string) =>
  ({
    awsRequestId,
    functionName: "sessions-AdminGetSession",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:sessions-AdminGetSession",
    memoryLimitInMB: "512",
  }) as Context;

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe("the request path's logger", () => {
  it("writes one JSON line per call with Powertools' fields and the invocation's context", async () => {
    const { logger, lines, records } = await freshLogger();
    logger.addContext(context("req-1"));
    logger.info("request", { routeId: "AdminGetSession", status: 200 });
    logger.addContext(context("req-2"));
    logger.warn("service unavailable", { requestId: "api-2" });
    expect(lines.every((line) => line.endsWith("}\n") && !line.slice(0, -1).includes("\n"))).toBe(true);
    const [first, second] = records();
    expect(first).toMatchObject({
      level: "INFO",
      message: "request",
      service: "sessions",
      cold_start: true,
      function_name: "sessions-AdminGetSession",
      function_arn: "arn:aws:lambda:us-east-1:123456789012:function:sessions-AdminGetSession",
      function_memory_size: 512,
      function_request_id: "req-1",
      xray_trace_id: "1-5759e988-bd862e3fe1be46a994272793",
      routeId: "AdminGetSession",
      status: 200,
    });
    expect(new Date(first?.timestamp as string).toISOString()).toBe(first?.timestamp);
    // The second invocation of an instance is warm.
    expect(second).toMatchObject({ level: "WARN", cold_start: false, function_request_id: "req-2" });
  });

  it("writes an error's name, message, stack and cause", async () => {
    const { logger, records } = await freshLogger();
    const cause = new Error("socket hang up");
    logger.error("unhandled error", { error: new TypeError("boom", { cause }) });
    const { error } = records()[0] as { error: Record<string, unknown> };
    expect(error).toMatchObject({ name: "TypeError", message: "boom", cause: { message: "socket hang up" } });
    expect(error.stack).toContain("TypeError: boom");
  });

  it("writes nothing below POWERTOOLS_LOG_LEVEL, and nothing at all when SILENT", async () => {
    const warn = await freshLogger("WARN");
    warn.logger.debug("debug", {});
    warn.logger.info("info", {});
    warn.logger.warn("warn", {});
    warn.logger.error("error", {});
    expect(warn.records().map((r) => r.message)).toEqual(["warn", "error"]);
    vi.restoreAllMocks();

    const silent = await freshLogger("SILENT");
    silent.logger.error("error", {});
    expect(silent.lines).toEqual([]);
  });

  it("finishes a line that a full pipe refuses through process.stdout", async () => {
    const { logger, write } = await freshLogger();
    // The pipe takes the first 10 bytes, then is full.
    write.mockImplementationOnce(((_fd: number, chunk: Uint8Array) =>
      Math.min(10, chunk.length)) as typeof fs.writeSync);
    write.mockImplementationOnce(() => {
      throw Object.assign(new Error("EAGAIN: resource temporarily unavailable, write"), { code: "EAGAIN" });
    });
    const queued: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation(((chunk: Uint8Array) => {
      queued.push(Buffer.from(chunk).toString("utf8"));
      return true;
    }) as typeof process.stdout.write);
    logger.info("request", { status: 200 });
    const sent = write.mock.calls[0]?.[1] as unknown as Uint8Array;
    const line = Buffer.from(sent).toString("utf8");
    expect(queued).toEqual([line.slice(10)]);
    expect(JSON.parse(line)).toMatchObject({ message: "request", status: 200 });
  });
});
