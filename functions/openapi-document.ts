import { docsFile } from "./shared/docs-files.ts";
import { publicRoute } from "./shared/http.ts";

export const handler = publicRoute().handler(async (event) =>
  docsFile(
    "openapi.json",
    { "content-type": "application/json; charset=utf-8", "cache-control": "no-cache" },
    event.headers?.["accept-encoding"],
  ),
);
