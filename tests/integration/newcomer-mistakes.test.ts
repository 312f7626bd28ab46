import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { projectRoot } from "../../lib/bundle.ts";
import { baseUrl } from "../support/api.ts";

// npm start, npm run invoke and npm run bench, given what a newcomer gets wrong: one line that names
// the fix (and the usage for a command-line mistake), a non-zero exit, never a stack trace.

const dataDir = mkdtempSync(join(tmpdir(), "sessions-mistakes-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const run = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [script, ...args], {
    cwd: projectRoot,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, LOCAL_DATA_DIR: dataDir, ...env },
  });

function expectOneLineFix(result: ReturnType<typeof run>, status: number, fix: string | RegExp) {
  expect(result.status, result.stderr).toBe(status);
  expect(result.stderr).toMatch(fix);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr).not.toMatch(/node:internal|Error:/);
}

describe("npm start", () => {
  it("names PORT=… when the port is in use", () => {
    const busy = new URL(baseUrl()).port;
    const result = run("bin/local.ts", [], { PORT: busy, DYNAMODB_ENDPOINT: inject("dynamoEndpoint") });
    expectOneLineFix(
      result,
      1,
      new RegExp(`^Port ${busy} is in use .*PORT=${Number(busy) + 1} npm start\\n$`),
    );
  });

  it("refuses a PORT that is no port, before starting anything", () => {
    for (const port of ["abc", "-1", "70000", "80.5"]) {
      const result = run("bin/local.ts", [], { PORT: port, DYNAMODB_ENDPOINT: "http://127.0.0.1:9" });
      expectOneLineFix(result, 2, `PORT must be a whole number from 0 to 65535, got "${port}"`);
    }
  });

  it("prints the usage for an unknown option, and for --help", () => {
    const result = run("bin/local.ts", ["--in-memroy"], { DYNAMODB_ENDPOINT: "http://127.0.0.1:9" });
    expectOneLineFix(result, 2, /^Unknown option '--in-memroy'/);
    expect(result.stderr).toContain("usage: [PORT=8000]");
    const help = run("bin/local.ts", ["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--in-memory");
  });
});

describe("npm run invoke", () => {
  it("prints the usage for an unknown option, a missing route or too many arguments", () => {
    expectOneLineFix(run("bin/invoke.ts", ["--route", "Health"]), 2, /^Unknown option '--route'/);
    expectOneLineFix(run("bin/invoke.ts", []), 2, /^Name the route to invoke\./);
    expectOneLineFix(run("bin/invoke.ts", ["Health", "a.json", "b.json"]), 2, 'Too many arguments: "b.json"');
    for (const args of [["--route", "Health"], []]) {
      expect(run("bin/invoke.ts", args).stderr).toContain("usage: npm run invoke -- <RouteId>");
    }
    expect(run("bin/invoke.ts", ["--help"]).stdout).toContain("usage: npm run invoke");
  });
});

describe("npm run bench", () => {
  it("prints the usage for an unknown option, an argument or a value out of range", () => {
    expectOneLineFix(run("bench/run.ts", ["--sesions", "10"]), 2, /^Unknown option '--sesions'/);
    expectOneLineFix(run("bench/run.ts", ["cold"]), 2, /^Unexpected argument 'cold'/);
    expectOneLineFix(run("bench/run.ts", ["--sessions", "5"]), 2, /^--sessions must be an integer >= 10/);
    expectOneLineFix(run("bench/run.ts", ["--phase", "cold,hot"]), 2, /^unknown phase "hot"/);
    expectOneLineFix(run("bench/run.ts", ["--duration", "ten"]), 2, /^--duration must be an integer >= 1/);
    expect(run("bench/run.ts", ["--sesions", "10"]).stderr).toContain("npm run bench -- [options]");
  });
});
