import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../lib/bundle.ts";

// `sessions-service/client` from a project that installs this package: `npm pack`, then
// `npm install <tarball>` into an empty project (dependencies from the npm cache where it has them),
// then plain Node imports the client and TypeScript checks a consumer against its types.

const work = mkdtempSync(join(tmpdir(), "sessions-client-package-"));
const consumer = join(work, "consumer");
let server: Server;
let url: string;
const seen: string[] = [];

const execFileAsync = promisify(execFile);
const run = (command: string, args: string[], cwd: string) =>
  spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, npm_config_update_notifier: "false" },
  });

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? "-"}`);
    res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const packed = run("npm", ["pack", "--silent", "--pack-destination", work], projectRoot);
  if (packed.status !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const tarball = readdirSync(work).find((f) => f.endsWith(".tgz")) as string;
  run("mkdir", ["-p", consumer], work);
  writeFileSync(join(consumer, "package.json"), '{"name":"consumer","private":true,"type":"module"}\n');
  const installed = run(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", join(work, tarball)],
    consumer,
  );
  if (installed.status !== 0) throw new Error(`npm install failed: ${installed.stderr}`);
}, 180_000);
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  rmSync(work, { recursive: true, force: true });
});

describe("the packed package", () => {
  it("ships the client and its types, not the service's sources", () => {
    const listed = run("tar", ["tzf", readdirSync(work).find((f) => f.endsWith(".tgz")) as string], work);
    const files = listed.stdout.trim().split("\n").sort();
    expect(files).toContain("package/client/index.js");
    expect(files).toContain("package/client/index.d.ts");
    expect(files).toContain("package/client/generated/openapi.d.ts");
    expect(files.filter((f) => /\/(functions|lib|tests|bench)\//.test(f))).toEqual([]);
  });

  it("imports as sessions-service/client with plain Node and calls the API", async () => {
    writeFileSync(
      join(consumer, "use.mjs"),
      [
        'import { createSessionsClient } from "sessions-service/client";',
        'const client = createSessionsClient({ baseUrl: process.argv[2], token: "t0ken" });',
        'const { data, response } = await client.GET("/health");',
        "console.log(response.status, JSON.stringify(data));",
      ].join("\n"),
    );
    // Asynchronously: the API it calls is served by this very process.
    const { stdout } = await execFileAsync(process.execPath, ["use.mjs", url], {
      cwd: consumer,
      timeout: 60_000,
    });
    expect(stdout.trim()).toBe('200 {"status":"ok"}');
    expect(seen).toContain("GET /health Bearer t0ken");
  });

  it("types a consumer's calls: paths, parameters and resources", () => {
    writeFileSync(
      join(consumer, "use.ts"),
      [
        'import { createSessionsClient, type Session } from "sessions-service/client";',
        'const client = createSessionsClient({ token: async () => "t" });',
        'const { data } = await client.GET("/sessions/{id}", { params: { path: { id: "x" } } });',
        "const session: Session | undefined = data;",
        "console.log(session?.user_id.toUpperCase());",
        "// @ts-expect-error: no such path",
        'await client.GET("/nope");',
        "// @ts-expect-error: the path parameter is required",
        'await client.GET("/sessions/{id}", {});',
      ].join("\n"),
    );
    const tsc = run(
      join(projectRoot, "node_modules/.bin/tsc"),
      [
        "--noEmit",
        "--strict",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--target",
        "es2022",
        "use.ts",
      ],
      consumer,
    );
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);
  });
});
