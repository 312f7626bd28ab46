import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { DeleteTableCommand, type DynamoDBClient, ResourceNotFoundException } from "@aws-sdk/client-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { type DynamoDbLocal, ensureTable, startDynamoDbLocal } from "../lib/dynamodb-local.ts";
import { functionDefaults, type Route, type RouteId, routes } from "../lib/routes.ts";
import { CapacityRecorder } from "./capacity.ts";
import type { Options } from "./options.ts";

// What the phases share: the options, progress output, one in-memory DynamoDB Local started on first
// use, and the service's own modules loaded in-process (after the environment they read at import).

export const root = join(import.meta.dirname, "..");

export const TABLE_NAME = "bench-sessions";

/** The environment every function reads at import; also given to the cold-start processes. */
export const functionEnv = {
  TABLE_NAME,
  JWT_SECRET: randomBytes(32).toString("base64url"),
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "local",
  AWS_SECRET_ACCESS_KEY: "local",
} as const;

type Store = typeof import("../functions/shared/store/index.ts");
type Auth = typeof import("../functions/shared/auth.ts");
export type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface Service {
  endpoint: string;
  /** The store's own DynamoDBClient: raw commands are sent with it, its stack carries the recorder. */
  client: DynamoDBClient;
  store: Store;
  auth: Auth;
  recorder: CapacityRecorder;
  handler(id: RouteId): Promise<Handler>;
  /** Drops and recreates the sessions table (and any other table named). */
  resetTable(name?: string): Promise<void>;
  /** Drops a table if it exists. */
  dropTable(name: string): Promise<void>;
}

export class Bench {
  private dynamo: DynamoDbLocal | undefined;
  private service: Promise<Service> | undefined;
  private readonly started = performance.now();
  private readonly cleanups: (() => Promise<void> | void)[] = [];

  readonly options: Options;
  readonly workdir: string;

  constructor(options: Options, workdir: string) {
    this.options = options;
    this.workdir = workdir;
    Object.assign(process.env, functionEnv);
  }

  log(message: string) {
    const seconds = ((performance.now() - this.started) / 1000).toFixed(0).padStart(4);
    process.stderr.write(`[${seconds}s] ${message}\n`);
  }

  /** Starts DynamoDB Local (in memory) and loads the service modules on first use. */
  services(): Promise<Service> {
    this.service ??= this.startServices();
    return this.service;
  }

  get endpoint(): string | undefined {
    return this.dynamo?.endpoint;
  }

  private async startServices(): Promise<Service> {
    this.log("starting DynamoDB Local (in memory)");
    this.dynamo = await startDynamoDbLocal({ dataDir: null });
    process.env.DYNAMODB_ENDPOINT = this.dynamo.endpoint;
    const store: Store = await import("../functions/shared/store/index.ts");
    const auth: Auth = await import("../functions/shared/auth.ts");
    const client = store.dynamodb;
    await ensureTable(client, TABLE_NAME);
    const handlers = new Map<string, Promise<Handler>>();
    const dropTable = async (name: string) => {
      try {
        await client.send(new DeleteTableCommand({ TableName: name }));
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException)) throw error;
      }
    };
    return {
      endpoint: this.dynamo.endpoint,
      client,
      store,
      auth,
      recorder: new CapacityRecorder(client),
      handler(id) {
        let loaded = handlers.get(id);
        if (!loaded) {
          const route = routeById(id);
          loaded = import(pathToFileURL(join(root, route.entry)).href).then(
            (m: { handler: Handler }) => m.handler,
          );
          handlers.set(id, loaded);
        }
        return loaded;
      },
      dropTable,
      async resetTable(name = TABLE_NAME) {
        await dropTable(name);
        await ensureTable(client, name);
      },
    };
  }

  /** Registers something to undo when the run ends, however it ends (child processes). */
  defer(cleanup: () => Promise<void> | void) {
    this.cleanups.push(cleanup);
  }

  async stop() {
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        this.log(`cleanup failed: ${(error as Error).message}`);
      }
    }
    await this.dynamo?.stop();
    this.dynamo = undefined;
  }
}

export function routeById(id: RouteId): Route {
  const route = routes.find((r) => r.id === id);
  if (!route) throw new Error(`no route ${id}`);
  return route;
}

export interface Call {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  token?: string;
  /** Overrides the path built from the route (the fallback route has none). */
  path?: string;
}

/** The payload v2.0 event API Gateway would deliver for this call. */
export function eventFor(route: Route, call: Call = {}): APIGatewayProxyEventV2 {
  const method = route.method === "ANY" ? "GET" : route.method;
  const path =
    call.path ??
    route.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(call.params?.[name] ?? ""));
  const routeKey = route.path === "$default" ? "$default" : `${route.method} ${route.path}`;
  const headers: Record<string, string> = { host: "localhost", "user-agent": "bench" };
  if (call.token) headers.authorization = `Bearer ${call.token}`;
  const body = call.body === undefined ? undefined : JSON.stringify(call.body);
  if (body !== undefined) headers["content-type"] = "application/json";
  const now = Date.now();
  return {
    version: "2.0",
    routeKey,
    rawPath: path,
    rawQueryString: new URLSearchParams(call.query).toString(),
    headers,
    queryStringParameters: call.query,
    pathParameters: call.params,
    requestContext: {
      accountId: "bench",
      apiId: "bench",
      domainName: "localhost",
      domainPrefix: "localhost",
      http: { method, path, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "bench" },
      requestId: randomUUID(),
      routeKey,
      stage: "$default",
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    body,
    isBase64Encoded: false,
  };
}

export function lambdaContext(route: Route): Context {
  const started = Date.now();
  return {
    awsRequestId: randomUUID(),
    functionName: route.id,
    getRemainingTimeInMillis: () => functionDefaults.timeoutSeconds * 1000 - (Date.now() - started),
  } as Context;
}

/** Checks the status of an in-process answer: a benchmark of failing requests measures nothing. */
export function expectStatus(result: APIGatewayProxyStructuredResultV2, expected: number, what: string) {
  if (result.statusCode !== expected) {
    throw new Error(`${what}: expected ${expected}, got ${result.statusCode} ${result.body ?? ""}`);
  }
  return result;
}

/**
 * The handlers log one JSON line per request to standard output, as on Lambda (functions/shared/
 * logger.ts writes it to file descriptor 1). While they run in-process the lines are still built, but
 * not written (they would bury the report); progress goes to stderr.
 */
export async function withoutRequestLogs<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stdout.write;
  const writeSync = fs.writeSync;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  fs.writeSync = ((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: never[]) =>
    fd === 1
      ? typeof data === "string"
        ? Buffer.byteLength(data)
        : data.byteLength
      : writeSync(fd, data as never, ...rest)) as typeof fs.writeSync;
  try {
    return await fn();
  } finally {
    process.stdout.write = write;
    fs.writeSync = writeSync;
  }
}
