import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { parse } from "yaml";
import type { RouteId } from "./routes.ts";

// The files the docs routes serve: the OpenAPI document as JSON, Swagger UI from its npm package and
// the few lines that start it (lib/docs-init.js). They are written beside a function's bundle (the stack's bundling hook, `npm run invoke`)
// or into the local runner's data folder, and read there by functions/shared/docs-files.ts, so that no
// function reads node_modules or openapi.yaml at run time and no request-path bundle carries them.

const projectRoot = join(import.meta.dirname, "..");
const require = createRequire(import.meta.url);

export const openapiPath = join(projectRoot, "openapi.yaml");

/** The document as the service serves it at `/openapi.json`. */
export function openapiDocument(): Record<string, unknown> {
  return parse(readFileSync(openapiPath, "utf8")) as Record<string, unknown>;
}

const sources = {
  "openapi.json": () => Buffer.from(JSON.stringify(openapiDocument())),
  "swagger-ui-bundle.js": () => readFileSync(require.resolve("swagger-ui-dist/swagger-ui-bundle.js")),
  "swagger-ui.css": () => readFileSync(require.resolve("swagger-ui-dist/swagger-ui.css")),
  "init.js": () => readFileSync(join(projectRoot, "lib", "docs-init.js")),
} as const;

export type DocsFileName = keyof typeof sources;

/** Which files each docs function serves; every other function gets none. */
export const docsFilesOf: Partial<Record<RouteId, readonly DocsFileName[]>> = {
  DocsAsset: ["swagger-ui-bundle.js", "swagger-ui.css", "init.js"],
  OpenApiDocument: ["openapi.json"],
};

export function isDocsFileName(name: string): name is DocsFileName {
  return Object.hasOwn(sources, name);
}

/**
 * Writes each file and its gzip twin (`<name>.gz`, served to clients that accept gzip: Swagger UI is
 * 1.9 MB as it comes and under 500 KB compressed) into `dir`; returns `dir`.
 */
export function writeDocsFiles(dir: string, names: readonly DocsFileName[] = docsFileNames()): string {
  mkdirSync(dir, { recursive: true });
  for (const name of names) {
    const bytes = sources[name]();
    writeFileSync(join(dir, name), bytes);
    writeFileSync(join(dir, `${name}.gz`), gzipSync(bytes, { level: 9 }));
  }
  return dir;
}

export function docsFileNames(): DocsFileName[] {
  return Object.keys(sources) as DocsFileName[];
}
