import { docsFile } from "./shared/docs-files.ts";
import { notFound } from "./shared/errors.ts";
import { publicRoute } from "./shared/http.ts";

// The docs page's files, by name: nothing else in the function's folder is ever served.
const assets: Record<string, string> = {
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui.css": "text/css; charset=utf-8",
  "init.js": "text/javascript; charset=utf-8",
};

export const handler = publicRoute().handler(async (event) => {
  const name = event.pathParameters?.asset ?? "";
  const type = Object.hasOwn(assets, name) ? assets[name] : undefined;
  if (type === undefined) throw notFound(`No docs asset ${name}`);
  return docsFile(
    name,
    { "content-type": type, "cache-control": "public, max-age=3600" },
    event.headers?.["accept-encoding"],
  );
});
