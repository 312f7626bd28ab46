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
// The create functions are the largest (about 239 KiB): besides the session's PutItem they carry the
// per-user cap (the cap item, a consistent read per candidate, the eviction's marker and delete).
const BUDGET_BYTES = 244 * 1024;

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

  it("leaves out what a Lambda function never runs: the credential chain, event streams, the Secrets Manager client, Powertools", async () => {
    const built = await bundleRoute({ id: "Probe", entry: "functions/admin-create-session.ts" }, outdir);
    const code = readFileSync(built.file, "utf8");
    for (const marker of [
      "sso-oidc", // the SSO token refresh client
      "AssumeRoleWithWebIdentity", // the STS client
      "AWS_CONTAINER_CREDENTIALS_FULL_URI", // the container credential provider
      "credential_process", // INI profiles
      "HeaderMarshaller", // the event-stream codec
      "ResourceExistsException", // a Secrets Manager client error class
      "POWERTOOLS_LOGGER_LOG_EVENT", // Powertools Logger: the events function's, not the request path's
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
  // into a lazy initializer (\`__esm\`), also where one of them is imported statically elsewhere: then
  // the initializer runs at import anyway and its code is parsed twice. The SDK modules under a
  // dynamically imported secret reader were 115 KB of each bundle, 30 M instructions of a cold start
  // (docs/performance.md, cold start). The service's own code loads nothing late.
  it("loads late nothing that the function also imports statically", async () => {
    const { build } = await import("esbuild");
    const shared: Record<string, number> = {};
    for (const route of (routes as readonly Route[]).filter(usesStore)) {
      const { metafile } = await build({ ...esbuildOptions(route, outdir), write: false });
      const inputs = metafile?.inputs ?? {};
      const [output] = Object.values(metafile?.outputs ?? {});
      const reach = (from: string[], edges: (kind: string) => boolean) => {
        const seen = new Set<string>();
        const stack = [...from];
        for (let file = stack.pop(); file !== undefined; file = stack.pop()) {
          const input = inputs[file];
          if (seen.has(file) || !input) continue;
          seen.add(file);
          for (const imported of input.imports) if (edges(imported.kind)) stack.push(imported.path);
        }
        return seen;
      };
      const statically = reach([route.entry], (kind) => kind !== "dynamic-import");
      const late = Object.entries(inputs).flatMap(([file, input]) =>
        file.startsWith("node_modules/")
          ? [] // the SDK's own late imports (event streams, the browser user agent) are the floor's too
          : input.imports.filter((i) => i.kind === "dynamic-import").map((i) => i.path),
      );
      for (const file of reach(late, () => true)) {
        if (statically.has(file) && inputs[file]?.format === "esm") {
          shared[file] = output?.inputs[file]?.bytesInOutput ?? 0;
        }
      }
    }
    const bytes = Object.values(shared).reduce((sum, n) => sum + n, 0);
    expect(bytes, JSON.stringify(shared)).toBe(0);
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
