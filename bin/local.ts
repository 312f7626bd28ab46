import { resolve } from "node:path";
import { lifecycleSettings, SettingError } from "../functions/shared/lifecycle-settings.ts";
import { listenProblem, parseCommandLine, portSetting } from "../lib/command-line.ts";
import { devSecret } from "../lib/dev-secret.ts";
import { writeDocsFiles } from "../lib/docs.ts";
import {
  type DynamoDbLocal,
  ensureTable,
  JavaMissing,
  localClient,
  startDynamoDbLocal,
} from "../lib/dynamodb-local.ts";
import { jwksEnvironmentProblem } from "../lib/jwks-settings.ts";
import { startLocalApi } from "../lib/local-api.ts";
import { eventsSettings, startLocalEvents } from "../lib/local-events.ts";

// `npm start`: DynamoDB Local (unless DYNAMODB_ENDPOINT is set), the table, and the whole API on PORT.

const USAGE = `usage: [PORT=8000] [LOCAL_DATA_DIR=.data] [DYNAMODB_ENDPOINT=<url>] npm start [-- --in-memory]
  --in-memory   keep DynamoDB Local's data in memory instead of LOCAL_DATA_DIR`;
const { values: flags } = parseCommandLine(
  { options: { "in-memory": { type: "boolean", default: false }, help: { type: "boolean" } } },
  USAGE,
);
const settingsProblem = jwksEnvironmentProblem();
if (settingsProblem !== undefined) {
  console.error(settingsProblem);
  process.exit(1);
}
const dataDir = resolve(process.env.LOCAL_DATA_DIR ?? ".data");
const port = portSetting(process.env.PORT, 8000, USAGE);
process.env.TABLE_NAME ||= "sessions";
const tableName = process.env.TABLE_NAME;
process.env.JWT_SECRET = devSecret(dataDir);
// The docs functions read openapi.json and Swagger UI from here, as from beside their bundles on AWS.
process.env.DOCS_FILES_DIR = writeDocsFiles(resolve(dataDir, "docs"));
process.env.AWS_REGION ??= "us-east-1";
process.env.AWS_ACCESS_KEY_ID ??= "local";
process.env.AWS_SECRET_ACCESS_KEY ??= "local";

// The handlers are imported at their first request: a setting out of range is refused here, in one
// line, before anything starts.
try {
  lifecycleSettings((name) => process.env[name]);
} catch (error) {
  if (!(error instanceof SettingError)) throw error;
  console.error(error.message);
  process.exit(1);
}

let eventSettings: ReturnType<typeof eventsSettings>;
try {
  eventSettings = eventsSettings(process.env);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}

let dynamo: DynamoDbLocal | undefined;
try {
  if (!process.env.DYNAMODB_ENDPOINT) {
    dynamo = await startDynamoDbLocal({ dataDir: flags["in-memory"] ? null : resolve(dataDir, "dynamodb") });
    process.env.DYNAMODB_ENDPOINT = dynamo.endpoint;
  }
} catch (error) {
  if (!(error instanceof JavaMissing)) throw error;
  console.error(error.message);
  process.exit(1);
}

const endpoint = process.env.DYNAMODB_ENDPOINT as string;
const client = localClient(endpoint);
const table = await ensureTable(client, tableName);
const events = await startLocalEvents({ client, endpoint, tableName, dataDir, settings: eventSettings });
client.destroy();
const api = await startLocalApi({ port }).catch(async (error: unknown) => {
  const problem = listenProblem(error, port);
  if (problem === undefined) throw error;
  console.error(problem);
  await events.stop();
  await dynamo?.stop();
  process.exit(1);
});

console.log(`Sessions API listening on ${api.url}`);
console.log(
  `DynamoDB: ${endpoint} (${dynamo ? (flags["in-memory"] ? "DynamoDB Local, in memory" : `DynamoDB Local, data in ${dataDir}`) : "DYNAMODB_ENDPOINT"}), table "${tableName}" ${table === "created" ? "created" : "found"}`,
);
if (dynamo?.exposed) {
  console.log(
    `Note:   DynamoDB Local listens on every interface, so the dev table is open to your network: ${dynamo.exposed}`,
  );
}
console.log("Tokens: npm run token -- --sub alice            (user)");
console.log("        npm run token -- --sub ops --admin      (admin: sessions:admin scope)");
console.log(`Try:    curl ${api.url}/health`);
console.log(`Docs:   ${api.url}/docs                   (the API reference; npx sessions --help for the CLI)`);
console.log(events.summary);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping`);
  const force = setTimeout(() => process.exit(1), 5_000);
  force.unref();
  await api.close();
  await events.stop();
  await dynamo?.stop();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
