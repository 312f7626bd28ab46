import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";
import { openapiPath } from "./docs.ts";

// The typed client's types (client/generated/openapi.d.ts) come from openapi.yaml through
// openapi-typescript. Through its API rather than its CLI: the CLI would lint with redocly.yaml, whose
// one acknowledged exception lives in an ignore file the CLI does not read (npm run lint:openapi does).

export const clientTypesPath = join(import.meta.dirname, "..", "client", "generated", "openapi.d.ts");

/** The file's text, as `npm run generate:client` writes it. */
export async function generateClientTypes(): Promise<string> {
  const ast = await openapiTS(pathToFileURL(openapiPath), { silent: true, emptyObjectsUnknown: true });
  return `${COMMENT_HEADER}// Generated from openapi.yaml by \`npm run generate:client\`.\n\n${astToString(ast)}`;
}

/** Whether the committed file is what openapi.yaml gives now. */
export async function clientTypesAreCurrent(): Promise<boolean> {
  let committed = "";
  try {
    committed = readFileSync(clientTypesPath, "utf8");
  } catch {
    // Missing: not current.
  }
  return committed === (await generateClientTypes());
}
