import { parseArgs } from "node:util";
import { runSmoke } from "../lib/smoke.ts";

// `npm run smoke -- --url <api> --admin-token <jwt>`: checks a running deployment end to end through
// its public API (lib/smoke.ts); the last line says PASS or FAIL, and so does the exit code.

const USAGE = `usage: npm run smoke -- --url <api url> --admin-token <jwt with scope sessions:admin> [--timeout <seconds>]
  after a deploy: --url from the stack's ApiUrl output; an admin token as docs/deploy.md shows`;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function options() {
  try {
    return parseArgs({
      options: {
        url: { type: "string" },
        "admin-token": { type: "string" },
        timeout: { type: "string", default: "10" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (error) {
    return fail((error as Error).message);
  }
}

const values = options();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.url) fail("--url is required");
if (!values["admin-token"]) fail("--admin-token is required");
let url: URL;
try {
  url = new URL(values.url);
} catch {
  fail(`--url must be an http:// or https:// URL, got "${values.url}"`);
}
if (url.protocol !== "http:" && url.protocol !== "https:") {
  fail(`--url must be an http:// or https:// URL, got "${values.url}"`);
}
const timeout = Number(values.timeout);
if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 60)
  fail("--timeout must be a number of seconds from 1 to 60");

console.log(`smoke test of ${url.href}`);
const result = await runSmoke({
  url: url.href,
  adminToken: values["admin-token"],
  timeoutMs: timeout * 1000,
  print: (line) => console.log(line),
});
if (result.passed) {
  console.log(`PASS smoke test: ${result.checks.length} checks against ${url.href}`);
} else {
  console.log(`FAIL smoke test: ${result.failure?.check}: ${result.failure?.reason}`);
  process.exitCode = 1;
}
