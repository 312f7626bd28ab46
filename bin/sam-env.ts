import { resolve } from "node:path";
import { parseCommandLine, usageExit } from "../lib/command-line.ts";
import { devSecret } from "../lib/dev-secret.ts";
import { writeSamEnvVars } from "../lib/local-invoke.ts";

// `npm run sam:env -- --endpoint http://host.docker.internal:<port>`: the `--env-vars` file for
// `sam local invoke` (docs/local-invoke.md), with the local signing key and table.

const dataDir = resolve(process.env.LOCAL_DATA_DIR ?? ".data");
const USAGE = `usage: npm run sam:env -- --endpoint <url> [--table <name>] [--out <file>]
  --endpoint <url>  DynamoDB Local as sam's container reaches it: the port \`npm start\` prints, on
                    host.docker.internal (or 127.0.0.1 with sam's --docker-network host)
  --table <name>    the table (default: TABLE_NAME, else sessions)
  --out <file>      where to write it (default: ${dataDir}/sam-env.json; it holds the signing key)`;

const { values } = parseCommandLine(
  {
    options: {
      endpoint: { type: "string" },
      table: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean" },
    },
  },
  USAGE,
);
const endpoint = values.endpoint ?? "";
if (!/^https?:\/\/[^/]+/.test(endpoint)) {
  usageExit(
    endpoint
      ? `--endpoint must be an http:// URL, got "${endpoint}"`
      : "Name DynamoDB Local's endpoint as sam's container reaches it: --endpoint http://host.docker.internal:<port>",
    USAGE,
  );
}
const out = resolve(values.out ?? `${dataDir}/sam-env.json`);
writeSamEnvVars(out, {
  endpoint,
  tableName: values.table ?? (process.env.TABLE_NAME || "sessions"),
  jwtSecret: devSecret(dataDir),
});
console.log(out);
