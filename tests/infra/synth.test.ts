import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleRoute, projectRoot } from "../../lib/bundle.ts";
import { docsFilesOf, openapiDocument } from "../../lib/docs.ts";
import { EVENTS_ENTRY } from "../../lib/events-pipeline.ts";
import { type Route, type RouteId, routes } from "../../lib/routes.ts";

// The real thing: the pinned CLI runs bin/app.ts (cdk.json), bundles every function with esbuild and
// runs cdk-nag, all without an AWS account or network.

const allRoutes = routes as readonly Route[];
const work = mkdtempSync(join(tmpdir(), "sessions-synth-"));
const outdir = join(work, "cdk.out");
let result: ReturnType<typeof spawnSync>;
let template: { Resources: Record<string, { Type: string; Properties: any; Metadata?: any }> };

const synth = (output: string, context: string[]) =>
  spawnSync(
    join(projectRoot, "node_modules/.bin/cdk"),
    ["synth", "-q", "--no-notices", "--output", output, ...context.flatMap((c) => ["-c", c])],
    {
      cwd: projectRoot,
      encoding: "utf8",
      env: {
        ...process.env,
        CDK_DISABLE_VERSION_CHECK: "1",
        CDK_DISABLE_CLI_TELEMETRY: "true",
        // No credentials: synthesis must not need an account.
        AWS_PROFILE: "",
        AWS_ACCESS_KEY_ID: "",
        AWS_SECRET_ACCESS_KEY: "",
      },
    },
  );

beforeAll(() => {
  result = synth(outdir, ["stage=dev"]);
  if (result.status === 0) {
    template = JSON.parse(readFileSync(join(outdir, "Sessions-dev.template.json"), "utf8"));
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("npx cdk synth", () => {
  it("succeeds offline, cdk-nag included", () => {
    expect(result.status, `${result.stderr}`).toBe(0);
  });

  it("prints a template whose routes are the route table's", () => {
    const keys = Object.values(template.Resources)
      .filter((r) => r.Type === "AWS::ApiGatewayV2::Route")
      .map((r) => r.Properties.RouteKey as string);
    expect(keys.sort()).toEqual(
      allRoutes.map((r) => (r.path === "$default" ? "$default" : `${r.method} ${r.path}`)).sort(),
    );
  });

  it("uploads, for every function, byte for byte the bundle lib/bundle.ts builds", async () => {
    const functions = Object.entries(template.Resources).filter(
      ([, r]) => r.Type === "AWS::Lambda::Function",
    );
    // Every route's function, and the events function (lib/events-pipeline.ts).
    const expected = [
      ...allRoutes.map((route) => ({ id: route.id, entry: route.entry, path: route.id })),
      { id: "EventsPublisher", entry: EVENTS_ENTRY, path: "Events/Publisher" },
    ];
    expect(functions).toHaveLength(expected.length);
    const ours = join(work, "ours");
    for (const route of expected) {
      const [, fn] =
        functions.find(([, r]) => r.Metadata["aws:cdk:path"] === `Sessions-dev/${route.path}/Resource`) ?? [];
      expect(fn, route.id).toBeDefined();
      const staged = readFileSync(join(outdir, fn?.Metadata["aws:asset:path"], "index.mjs"));
      const built = readFileSync((await bundleRoute(route, ours)).file);
      expect(staged.equals(built), `${route.id}: stack bundle differs from lib/bundle.ts`).toBe(true);
    }
  });

  it("stages the docs functions' files beside their bundles, and no others", () => {
    for (const route of allRoutes) {
      const staged = readdirSync(join(outdir, fnPathOf(route.id))).sort();
      const files = docsFilesOf[route.id as RouteId] ?? [];
      expect(staged, route.id).toEqual(["index.mjs", ...files.flatMap((f) => [f, `${f}.gz`])].sort());
    }
    const assets = join(outdir, fnPathOf("OpenApiDocument"));
    expect(JSON.parse(readFileSync(join(assets, "openapi.json"), "utf8"))).toEqual(openapiDocument());
  });

  it("fails, naming what is missing, for a JWKS URL without an issuer and an audience", () => {
    const refused = synth(join(work, "cdk.out-jwks"), [
      "stage=dev",
      "jwksUrl=https://id.example.com/.well-known/jwks.json",
    ]);
    expect(refused.status, refused.stdout).not.toBe(0);
    expect(refused.stderr).toContain("Context jwksUrl is set without jwtIssuer and jwtAudience");
  });
});

function fnPathOf(routeId: string): string {
  const [, fn] =
    Object.entries(template.Resources).find(
      ([, r]) => r.Metadata?.["aws:cdk:path"] === `Sessions-dev/${routeId}/Resource`,
    ) ?? [];
  return fn?.Metadata["aws:asset:path"];
}
