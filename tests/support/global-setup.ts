import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { type DynamoDbLocal, startDynamoDbLocal } from "../../lib/dynamodb-local.ts";
import { type Runner, startRunner } from "./runner.ts";

// Integration tests talk HTTP to the real local runner (`node bin/local.ts`), which talks to a real
// DynamoDB Local. The runner's stdout (its log lines) is kept in a file the tests may read.

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    dynamoEndpoint: string;
    tableName: string;
    jwtSecret: string;
    logFile: string;
  }
}

export const TEST_SECRET = "integration-secret-integration-secret-0123456789";

let dynamo: DynamoDbLocal | undefined;
let runner: Runner | undefined;
let logDir: string | undefined;

export async function setup(project: TestProject) {
  logDir = mkdtempSync(join(tmpdir(), "sessions-it-"));
  const logFile = join(logDir, "runner.log");
  const tableName = "sessions-it";
  dynamo = await startDynamoDbLocal({ dataDir: null });
  runner = await startRunner(
    { DYNAMODB_ENDPOINT: dynamo.endpoint, TABLE_NAME: tableName, JWT_SECRET: TEST_SECRET },
    { logFile },
  );
  project.provide("baseUrl", runner.url);
  project.provide("dynamoEndpoint", dynamo.endpoint);
  project.provide("tableName", tableName);
  project.provide("jwtSecret", TEST_SECRET);
  project.provide("logFile", logFile);
}

export async function teardown() {
  await runner?.stop();
  await dynamo?.stop();
  if (logDir) rmSync(logDir, { recursive: true, force: true });
}
