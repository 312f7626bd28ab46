import { afterEach, describe, expect, it, vi } from "vitest";

// The logger is loaded late (functions/shared/logger.ts): a line asked for before Powertools is there
// must still be written, in order, by the time `written()` settles, which the responder awaits before
// a function answers.

async function freshLogger() {
  vi.resetModules();
  vi.stubEnv("POWERTOOLS_LOG_LEVEL", "INFO");
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  const { logger } = await import("../../functions/shared/logger.ts");
  const messages = () => lines.map((line) => (JSON.parse(line) as { message: string; n?: number }).message);
  return { logger, messages, write };
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe("the late-loaded logger", () => {
  it("writes the lines asked for before it was loaded, in order, once written() settles", async () => {
    const { logger, messages } = await freshLogger();
    logger.info("first", { n: 1 });
    logger.info("second", { n: 2 });
    expect(messages()).toEqual([]); // not loaded yet: nothing is built at import
    await logger.written();
    expect(messages()).toEqual(["first", "second"]);
    logger.info("third", { n: 3 });
    expect(messages()).toEqual(["first", "second", "third"]); // loaded: written at once
  });

  it("is loaded at the next turn of the event loop once a request asks for it", async () => {
    const { logger, messages } = await freshLogger();
    logger.prepare();
    await new Promise((resolve) => setImmediate(resolve));
    await logger.written();
    await new Promise((resolve) => setImmediate(resolve));
    logger.info("ready", {});
    expect(messages()).toEqual(["ready"]);
  });
});
