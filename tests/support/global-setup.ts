import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { type DynamoDbLocal, freePort, startDynamoDbLocal } from "../../lib/dynamodb-local.ts";

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
let runner: ChildProcess | undefined;

export async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), "sessions-it-"));
  dynamo = await startDynamoDbLocal({ dataDir: null });
  const port = await freePort();
  const tableName = "sessions-it";
  const logFile = join(dir, "runner.log");
  const log = createWriteStream(logFile);
  runner = spawn(process.execPath, ["bin/local.ts"], {
    env: {
      ...process.env,
      PORT: String(port),
      DYNAMODB_ENDPOINT: dynamo.endpoint,
      TABLE_NAME: tableName,
      JWT_SECRET: TEST_SECRET,
      LOCAL_DATA_DIR: dir,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  runner.stdout?.pipe(log);
  runner.stderr?.pipe(log);
  const baseUrl = `http://localhost:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (runner.exitCode !== null)
      throw new Error(`local runner exited with ${runner.exitCode}; see ${logFile}`);
    try {
      if ((await fetch(`${baseUrl}/health`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`local runner did not start; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  project.provide("baseUrl", baseUrl);
  project.provide("dynamoEndpoint", dynamo.endpoint);
  project.provide("tableName", tableName);
  project.provide("jwtSecret", TEST_SECRET);
  project.provide("logFile", logFile);
}

export async function teardown() {
  if (runner && runner.exitCode === null) {
    const exited = new Promise((r) => runner?.once("exit", r));
    runner.kill("SIGTERM");
    await exited;
  }
  await dynamo?.stop();
}
