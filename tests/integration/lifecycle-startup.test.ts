import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// `npm start` refuses lifecycle settings out of range (CONTRACT section 8) in one line that names
// the setting, with a non-zero exit and no stack trace, before it starts anything.

const dataDir = mkdtempSync(join(tmpdir(), "sessions-startup-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function start(env: Record<string, string>) {
  return spawnSync(process.execPath, ["bin/local.ts"], {
    encoding: "utf8",
    timeout: 30_000,
    env: {
      ...process.env,
      PORT: "0",
      LOCAL_DATA_DIR: dataDir,
      DYNAMODB_ENDPOINT: "http://127.0.0.1:9",
      ...env,
    },
  });
}

describe("lifecycle settings at start-up", () => {
  it.each([
    [{ SESSION_IDLE_SECONDS: "6", SESSION_TOUCH_SECONDS: "4" }, "SESSION_IDLE_SECONDS"],
    [{ SESSION_IDLE_SECONDS: "-5" }, "SESSION_IDLE_SECONDS"],
    [{ SESSION_TOUCH_SECONDS: "0" }, "SESSION_TOUCH_SECONDS"],
    [{ SESSION_MAX_PER_USER: "-1" }, "SESSION_MAX_PER_USER"],
    [{ SESSION_MAX_PER_USER: "lots" }, "SESSION_MAX_PER_USER"],
    [{ SESSION_LIMIT_POLICY: "kick_random" }, "SESSION_LIMIT_POLICY"],
  ])("%j: exits non-zero with one line naming %s", (env, name) => {
    const run = start(env);
    expect(run.status, run.stderr).not.toBe(0);
    const lines = run.stderr.trim().split("\n");
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toContain(name);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stdout).not.toContain("listening");
  });
});
