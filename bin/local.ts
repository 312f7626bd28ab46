import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { lifecycleSettings, SettingError } from "../functions/shared/lifecycle-settings.ts";
import { devSecret } from "../lib/dev-secret.ts";
import {
  type DynamoDbLocal,
  ensureTable,
  JavaMissing,
  localClient,
  startDynamoDbLocal,
} from "../lib/dynamodb-local.ts";
import { startLocalApi } from "../lib/local-api.ts";

// `npm start`: DynamoDB Local (unless DYNAMODB_ENDPOINT is set), the table, and the whole API on PORT.

const { values: flags } = parseArgs({ options: { "in-memory": { type: "boolean", default: false } } });
const dataDir = resolve(process.env.LOCAL_DATA_DIR ?? ".data");
const port = Number(process.env.PORT ?? 8000);
process.env.TABLE_NAME ||= "sessions";
const tableName = process.env.TABLE_NAME;
process.env.JWT_SECRET = devSecret(dataDir);
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
client.destroy();
const api = await startLocalApi({ port });

console.log(`Sessions API listening on ${api.url}`);
console.log(
  `DynamoDB: ${endpoint} (${dynamo ? (flags["in-memory"] ? "DynamoDB Local, in memory" : `DynamoDB Local, data in ${dataDir}`) : "DYNAMODB_ENDPOINT"}), table "${tableName}" ${table === "created" ? "created" : "found"}`,
);
console.log("Tokens: npm run token -- --sub alice            (user)");
console.log("        npm run token -- --sub ops --admin      (admin: sessions:admin scope)");
console.log(`Try:    curl ${api.url}/health`);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping`);
  const force = setTimeout(() => process.exit(1), 5_000);
  force.unref();
  await api.close();
  await dynamo?.stop();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
