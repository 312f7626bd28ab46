import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BuildOptions } from "esbuild";
import { docsFilesOf, writeDocsFiles } from "./docs.ts";
import type { Route, RouteId } from "./routes.ts";

// How every function is bundled: the CDK stack passes these settings to NodejsFunction (see
// lib/endpoint-function.ts), and the bundle budget test, `npm run invoke` and the benchmark build the
// same artifact with esbuild directly. tests/infra checks that both paths produce the same file.

export const RUNTIME_NODE_MAJOR = 24;

/** Entry points and alias targets are relative to this folder, whoever starts the build. */
export const projectRoot = join(import.meta.dirname, "..");

/**
 * Node builtins the bundled ES modules import. An `import` of a builtin makes Node build its ES module
 * facade, which reads every export, lazy ones included: `node:http` alone then loads undici, and
 * `node:crypto` WebCrypto. Aliased to one-line CommonJS modules (`process.getBuiltinModule`), esbuild
 * reads only the exports used; cold init measured about 20 ms shorter (bench phase 2).
 */
const SHIMMED_BUILTINS = [
  "console",
  "crypto",
  "fs",
  "fs/promises",
  "http",
  "https",
  "net",
  "os",
  "path",
  "process",
  "stream",
  "timers",
] as const;

function builtinShims(): Record<string, string> {
  return Object.fromEntries(
    SHIMMED_BUILTINS.flatMap((name) => {
      const shim = `./lib/shims/builtins/${name.replace("/", "-")}.cjs`;
      return [
        [name, shim],
        [`node:${name}`, shim],
      ];
    }),
  );
}

export const bundling = {
  format: "esm",
  platform: "node",
  target: `node${RUNTIME_NODE_MAJOR}`,
  /** Prefer each package's ES module build: smaller after tree shaking, faster to load. */
  mainFields: ["module", "main"],
  minify: true,
  sourcemap: false,
  legalComments: "none",
  /** The AWS SDK is bundled (not taken from the runtime) so its version is the one tested here. */
  external: [] as string[],
  /**
   * SDK parts a Lambda function never runs, swapped for small modules (each explains itself): the
   * default credential chain (Lambda passes credentials in the environment), the event-stream serde
   * (DynamoDB has no streaming operation) and the endpoint-discovery cache's LRU. Together they were
   * 40% of every bundle.
   */
  alias: {
    "@aws-sdk/credential-provider-node": "./lib/shims/credential-provider-node.ts",
    "@smithy/core/event-streams": "./lib/shims/event-streams.ts",
    "mnemonist/lru-cache": "./lib/shims/lru-cache.ts",
    ...builtinShims(),
  } as Record<string, string>,
  /** Some CommonJS dependencies call require(); ESM output needs it defined. */
  banner:
    "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
} as const;

/**
 * Constants fixed at bundling, per function: its route id, which its log lines carry, so that a
 * function does not bundle the route table to look it up (functions/shared/http.ts). The local runner
 * runs the sources unbundled, every route in one process, and looks the id up instead.
 */
export function definesFor(id: string): Record<string, string> {
  return { "process.env.SESSIONS_ROUTE_ID": JSON.stringify(id) };
}

export function esbuildOptions(route: Pick<Route, "entry" | "id">, outdir: string): BuildOptions {
  return {
    absWorkingDir: projectRoot,
    entryPoints: [route.entry],
    outfile: join(outdir, route.id, "index.mjs"),
    bundle: true,
    format: bundling.format,
    platform: bundling.platform,
    target: bundling.target,
    mainFields: [...bundling.mainFields],
    minify: bundling.minify,
    sourcemap: bundling.sourcemap,
    legalComments: bundling.legalComments,
    external: [...bundling.external],
    alias: { ...bundling.alias },
    banner: { js: bundling.banner },
    define: definesFor(route.id),
    metafile: true,
    logLevel: "warning",
  };
}

export interface BuiltFunction {
  id: string;
  file: string;
  bytes: number;
}

/** Bundles one route's function as it is deployed; returns the file and its size in bytes. */
export async function bundleRoute(
  route: Pick<Route, "entry" | "id">,
  outdir: string,
): Promise<BuiltFunction> {
  const { build } = await import("esbuild");
  const options = esbuildOptions(route, outdir);
  mkdirSync(join(outdir, route.id), { recursive: true });
  const result = await build(options);
  const [output] = Object.entries(result.metafile?.outputs ?? {});
  if (!output) throw new Error(`esbuild produced no output for ${route.id}`);
  // The docs functions read their files beside the bundle, as in the Lambda package.
  const files = docsFilesOf[route.id as RouteId];
  if (files) writeDocsFiles(join(outdir, route.id), files);
  return { id: route.id, file: options.outfile as string, bytes: output[1].bytes };
}
