import { writeFileSync } from "node:fs";
import { relative } from "node:path";
import { clientTypesAreCurrent, clientTypesPath, generateClientTypes } from "../lib/client-types.ts";

// `npm run generate:client` regenerates the typed client's types from openapi.yaml;
// `npm run check:client` (`--check`) exits 1 when the committed file is not what that would write.

const file = relative(process.cwd(), clientTypesPath);
const args = process.argv.slice(2);
if (args.length > 1 || (args.length === 1 && args[0] !== "--check")) {
  console.error("usage: node bin/client-types.ts [--check]");
  process.exit(2);
}
if (args[0] === "--check") {
  if (!(await clientTypesAreCurrent())) {
    console.error(
      `${file} is not what openapi.yaml generates: run \`npm run generate:client\` and commit it`,
    );
    process.exit(1);
  }
  console.log(`${file} matches openapi.yaml`);
} else {
  writeFileSync(clientTypesPath, await generateClientTypes());
  console.log(`wrote ${file}`);
}
