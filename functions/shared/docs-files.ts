import { readFileSync } from "node:fs";
import { join } from "node:path";
import { file, type Reply } from "./http.ts";

// The docs functions' files (lib/docs.ts writes them): beside the bundle in the Lambda package, or in
// the folder `npm start` names in DOCS_FILES_DIR. Read once per instance, kept in memory.

const dir = process.env.DOCS_FILES_DIR || import.meta.dirname;
const cache = new Map<string, string>();

function read(name: string): string {
  let body = cache.get(name);
  if (body === undefined) {
    body = readFileSync(join(dir, name)).toString("base64");
    cache.set(name, body);
  }
  return body;
}

/** One of the files, gzip-encoded when the client accepts it (API Gateway does not compress). */
export function docsFile(
  name: string,
  headers: { "content-type": string; "cache-control": string },
  acceptEncoding: string | undefined,
): Reply {
  const gzip = /\bgzip\b/i.test(acceptEncoding ?? "");
  return file(
    read(gzip ? `${name}.gz` : name),
    {
      ...headers,
      vary: "accept-encoding",
      ...(gzip && { "content-encoding": "gzip" }),
    },
    true,
  );
}
