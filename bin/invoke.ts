import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseCommandLine, usageExit } from "../lib/command-line.ts";
import { devSecret } from "../lib/dev-secret.ts";
import {
  BundledFunctions,
  findRoute,
  lambdaEnvironment,
  prepareEvent,
  sampleEventPath,
} from "../lib/invoke.ts";
import { jwksEnvironmentProblem } from "../lib/jwks-settings.ts";

// `npm run invoke -- <RouteId> [event.json]`: bundles the route exactly as it is deployed, then calls
// the built module's handler with the event (default events/<RouteId>.json) against the local table.

const usage =
  "usage: npm run invoke -- <RouteId> [event.json] [--print-event]\n" +
  "       DYNAMODB_ENDPOINT=http://127.0.0.1:<port> (the endpoint `npm start` prints) [TABLE_NAME=sessions]\n" +
  "  --print-event  print the event with its placeholders filled instead of invoking (for sam local invoke)";

const { positionals, values } = parseCommandLine(
  { allowPositionals: true, options: { help: { type: "boolean" }, "print-event": { type: "boolean" } } },
  usage,
);
const [routeId, eventArg] = positionals;
if (!routeId) usageExit("Name the route to invoke.", usage);
if (positionals.length > 2) usageExit(`Too many arguments: "${positionals.slice(2).join(" ")}"`, usage);

const settingsProblem = jwksEnvironmentProblem();
if (settingsProblem !== undefined) {
  console.error(settingsProblem);
  process.exit(2);
}

const endpoint = process.env.DYNAMODB_ENDPOINT;
if (!endpoint) {
  console.error(
    "DYNAMODB_ENDPOINT is not set. Start the local service in another terminal with `npm start`; it prints\n" +
      '"DynamoDB: http://127.0.0.1:<port> …". Then: DYNAMODB_ENDPOINT=http://127.0.0.1:<port> npm run invoke -- ' +
      routeId,
  );
  process.exit(2);
}

let route: ReturnType<typeof findRoute>;
try {
  route = findRoute(routeId);
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
const eventFile = resolve(eventArg ?? sampleEventPath(route.id));
if (!existsSync(eventFile)) {
  console.error(`No event file ${eventFile}\n${usage}`);
  process.exit(2);
}

const jwtSecret = devSecret(resolve(process.env.LOCAL_DATA_DIR ?? ".data"));
// Set before any bundle is imported: a function reads its configuration once, at cold start.
Object.assign(
  process.env,
  lambdaEnvironment({ endpoint, tableName: process.env.TABLE_NAME || "sessions", jwtSecret }),
);

// The event goes to stdout alone: the sample session's creation must not log a line into it.
if (values["print-event"]) process.env.POWERTOOLS_LOG_LEVEL = "SILENT";

const functions = new BundledFunctions();
try {
  const event = await prepareEvent(eventFile, { jwtSecret, functions });
  if (values["print-event"]) {
    console.log(JSON.stringify(event, null, 2));
    process.exit(0);
  }
  const { bytes } = await functions.load(route);
  const started = performance.now();
  const result = await functions.invoke(route, event);
  const ms = (performance.now() - started).toFixed(1);
  let body: unknown = result.body;
  try {
    body = result.body ? JSON.parse(result.body) : result.body;
  } catch {
    // Not JSON: print it as it came.
  }
  console.log(`--- ${route.id} (${(bytes / 1024).toFixed(1)} KiB bundle, ${ms} ms) ---`);
  console.log(JSON.stringify({ ...result, body }, null, 2));
} finally {
  functions.dispose();
}
