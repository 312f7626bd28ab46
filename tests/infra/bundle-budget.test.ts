import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { bundleRoute, esbuildOptions } from "../../lib/bundle.ts";
import { type Route, routes, usesStore } from "../../lib/routes.ts";

// Every function, bundled as the stack bundles it (tests/infra/synth.test.ts proves the two are the
// same bytes), must stay under the budget: cold start time grows with the code Node has to parse.
// The create functions are the largest (about 263 KiB): besides the session's PutItem they carry the
// per-user cap (the cap item, a consistent read per candidate, the eviction's marker and delete).
const BUDGET_BYTES = 272 * 1024;

const outdir = mkdtempSync(join(tmpdir(), "sessions-budget-"));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe("bundle budget", () => {
  it(`keeps every function under ${BUDGET_BYTES / 1024} KiB minified`, async () => {
    const rows: string[] = [];
    const over: string[] = [];
    for (const route of routes as readonly Route[]) {
      const built = await bundleRoute(route, outdir);
      const gzip = gzipSync(readFileSync(built.file)).length;
      rows.push(`| ${route.id} | ${(built.bytes / 1024).toFixed(1)} | ${(gzip / 1024).toFixed(1)} |`);
      if (built.bytes > BUDGET_BYTES) over.push(`${route.id}: ${built.bytes} bytes`);
    }
    // The table docs/deploy.md records.
    console.log(["| function | minified KiB | gzip KiB |", "|---|---:|---:|", ...rows].join("\n"));
    expect(over).toEqual([]);
  });

  it("leaves out what a Lambda function never runs: the credential chain, event streams, the Secrets Manager client", async () => {
    const built = await bundleRoute({ id: "Probe", entry: "functions/admin-create-session.ts" }, outdir);
    const code = readFileSync(built.file, "utf8");
    for (const marker of [
      "sso-oidc", // the SSO token refresh client
      "AssumeRoleWithWebIdentity", // the STS client
      "AWS_CONTAINER_CREDENTIALS_FULL_URI", // the container credential provider
      "credential_process", // INI profiles
      "HeaderMarshaller", // the event-stream codec
      "ResourceExistsException", // a Secrets Manager client error class
    ]) {
      expect(code.includes(marker), marker).toBe(false);
    }
    // The replacements are in: credentials from the environment, one signed Secrets Manager call.
    expect(code).toContain("AWS_SESSION_TOKEN");
    expect(code).toContain("secretsmanager.GetSecretValue");
    expect(code).toContain("Event streams are not bundled");
  });
});

/**
 * Loaded before a bundle: records every socket the import connects and every standard stream it
 * opens (opening process.stdout or stderr builds a stream, a few milliseconds of a cold start).
 */
const GUARD = `data:text/javascript,${encodeURIComponent(`
import net from "node:net";
globalThis.__opened = [];
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  globalThis.__opened.push("connect");
  return connect.apply(this, args);
};
for (const name of ["stdout", "stderr"]) {
  const stream = Object.getOwnPropertyDescriptor(process, name);
  Object.defineProperty(process, name, {
    ...stream,
    get() {
      globalThis.__opened.push(name);
      return stream.get.call(process);
    },
  });
}`)}`;

describe("importing a function", () => {
  // A dynamic import of an ES module makes esbuild turn that module, and every ES module it reaches,
  // into a lazy initializer (\`__esm\`), also where they are imported statically: the SDK modules under
  // the signed secret read were 115 KB of each bundle parsed twice at import, 30 M instructions of a
  // cold start (docs/performance.md, phase first). The service's own code imports everything statically.
  it("imports no ES module dynamically", async () => {
    const { build } = await import("esbuild");
    const dynamic = new Set<string>();
    for (const route of (routes as readonly Route[]).filter(usesStore)) {
      const { metafile } = await build({ ...esbuildOptions(route, outdir), write: false });
      for (const [file, input] of Object.entries(metafile?.inputs ?? {})) {
        for (const imported of input.imports) {
          // The SDK's own (event streams, the browser user agent, async_hooks) are the floor's too.
          if (file.startsWith("node_modules/")) continue;
          if (imported.kind === "dynamic-import" && !imported.path.endsWith(".cjs")) {
            dynamic.add(`${file} -> ${imported.path}`);
          }
        }
      }
    }
    expect([...dynamic]).toEqual([]);
  });

  it("opens no connection and no standard stream: that waits for the first request", async () => {
    const opened: Record<string, string[]> = {};
    for (const route of (routes as readonly Route[]).filter(usesStore)) {
      const built = await bundleRoute(route, outdir);
      const run = spawnSync(
        process.execPath,
        [
          "--import",
          GUARD,
          "--input-type=module",
          "-e",
          `await import(${JSON.stringify(pathToFileURL(built.file).href)}); await new Promise((r) => setTimeout(r, 100)); process.getBuiltinModule("node:fs").writeSync(3, JSON.stringify(globalThis.__opened));`,
        ],
        {
          encoding: "utf8",
          stdio: ["ignore", "ignore", "pipe", "pipe"],
          env: {
            PATH: process.env.PATH ?? "",
            TABLE_NAME: "sessions",
            JWT_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf",
            AWS_REGION: "us-east-1",
            AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
            AWS_SECRET_ACCESS_KEY: "secret",
          },
        },
      );
      expect(run.status, `${route.id}: ${run.stderr}`).toBe(0);
      opened[route.id] = JSON.parse(String(run.output[3]));
    }
    expect(opened).toEqual(Object.fromEntries(Object.keys(opened).map((id) => [id, []])));
  });
});
