import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../lib/bundle.ts";
import {
  type DynamoDbLocal,
  ensureTable,
  localClient,
  startDynamoDbLocal,
} from "../../lib/dynamodb-local.ts";
import {
  BundledFunctions,
  findRoute,
  lambdaEnvironment,
  prepareEvent,
  sampleEventPath,
} from "../../lib/invoke.ts";
import { type Route, routes } from "../../lib/routes.ts";
import { successStatus } from "../support/openapi.ts";

// The deployable bundles (credential and event-stream shims, signed secret read and all) against
// DynamoDB Local, driven by the sample events of events/: what `npm run invoke` does.

const TABLE = "sessions-invoke-test";
const JWT_SECRET = "invoke-test-secret-0123456789abcdef0123456789";
const dataDir = mkdtempSync(join(tmpdir(), "sessions-invoke-data-"));
let dynamo: DynamoDbLocal;
let functions: BundledFunctions;

beforeAll(async () => {
  dynamo = await startDynamoDbLocal({ dataDir: null });
  const client = localClient(dynamo.endpoint);
  await ensureTable(client, TABLE);
  client.destroy();
  Object.assign(
    process.env,
    lambdaEnvironment({ endpoint: dynamo.endpoint, tableName: TABLE, jwtSecret: JWT_SECRET }),
  );
  functions = new BundledFunctions();
});
afterAll(async () => {
  functions?.dispose();
  await dynamo?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("sample events through the bundled functions", () => {
  it("has one sample event per route", () => {
    expect(readdirSync(join(projectRoot, "events")).sort()).toEqual(routes.map((r) => `${r.id}.json`).sort());
  });

  for (const route of routes as readonly Route[]) {
    it(`${route.id} answers ${successStatus(route.id)} to events/${route.id}.json`, async () => {
      const event = await prepareEvent(sampleEventPath(route.id), { jwtSecret: JWT_SECRET, functions });
      const result = await functions.invoke(route, event);
      expect(result.statusCode, result.body).toBe(successStatus(route.id));
      expect(result.headers?.["x-request-id"]).toBe(event.requestContext.requestId);
    });
  }

  it("the session a sample event acts on really is in the table", async () => {
    const event = await prepareEvent(sampleEventPath("AdminGetSession"), {
      jwtSecret: JWT_SECRET,
      functions,
    });
    const result = await functions.invoke(findRoute("AdminGetSession"), event);
    expect(JSON.parse(result.body ?? "{}")).toMatchObject({ id: event.pathParameters?.id, user_id: "alice" });
  });

  it("refuses a sample event whose token was signed with another key", async () => {
    const event = await prepareEvent(sampleEventPath("UserListSessions"), {
      jwtSecret: "some-other-secret-0123456789abcdef0123456789",
      functions,
    });
    const result = await functions.invoke(findRoute("UserListSessions"), event);
    expect(result.statusCode).toBe(401);
  });
});

describe("npm run invoke", () => {
  const cli = (args: string[], env: Record<string, string>) =>
    spawnSync(join(projectRoot, "node_modules/.bin/node"), ["bin/invoke.ts", ...args], {
      cwd: projectRoot,
      encoding: "utf8",
      env: { ...process.env, JWT_SECRET: "", LOCAL_DATA_DIR: dataDir, ...env },
    });

  it("prints the bundled handler's response for a route", () => {
    const run = cli(["AdminGetSession"], { DYNAMODB_ENDPOINT: dynamo.endpoint, TABLE_NAME: TABLE });
    expect(run.status, run.stderr).toBe(0);
    const printed = run.stdout.slice(run.stdout.indexOf("--- AdminGetSession"));
    const response = JSON.parse(printed.slice(printed.indexOf("\n") + 1));
    expect(response).toMatchObject({ statusCode: 200, body: { user_id: "alice" } });
  });

  it("tells the user to start the local service when no endpoint is given", () => {
    const run = cli(["Health"], { DYNAMODB_ENDPOINT: "" });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("npm start");
  });

  it("names the routes when given an unknown one", () => {
    const run = cli(["NoSuchRoute"], { DYNAMODB_ENDPOINT: dynamo.endpoint });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("AdminCreateSession");
  });
});
