import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { bundleRoute, projectRoot } from "./bundle.ts";
import { devToken } from "./dev-secret.ts";
import { functionDefaults, type Route, routes } from "./routes.ts";

// `npm run invoke`: runs a route's deployable artifact (the esbuild bundle the stack uploads, not the
// TypeScript source) with a sample event, the way the Lambda runtime would, against a local table.

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** The user the sample events act for; `{{USER_TOKEN}}` and `{{SESSION_ID}}` belong to this user. */
export const SAMPLE_USER = "alice";
const ADMIN_SUBJECT = "invoke-admin";

export function findRoute(id: string): Route {
  const route = (routes as readonly Route[]).find((r) => r.id === id);
  if (!route) {
    throw new Error(`Unknown route "${id}"; one of: ${routes.map((r) => r.id).join(", ")}`);
  }
  return route;
}

export function sampleEventPath(routeId: string): string {
  return join(projectRoot, "events", `${routeId}.json`);
}

/**
 * The environment a deployed function sees, pointed at a local table. Lambda passes role credentials
 * in the environment; DynamoDB Local accepts any, and the bundles read no others (lib/bundle.ts).
 */
export function lambdaEnvironment(options: {
  endpoint: string;
  tableName: string;
  jwtSecret: string;
}): Record<string, string> {
  return {
    DYNAMODB_ENDPOINT: options.endpoint,
    TABLE_NAME: options.tableName,
    JWT_SECRET: options.jwtSecret,
    AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "local",
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "local",
  };
}

/** Bundles routes into a private temporary folder (never cdk.out) and loads their handlers. */
export class BundledFunctions {
  private readonly dir = mkdtempSync(join(tmpdir(), "sessions-invoke-"));
  private readonly loaded = new Map<string, Promise<{ handler: Handler; bytes: number }>>();

  load(route: Route): Promise<{ handler: Handler; bytes: number }> {
    let entry = this.loaded.get(route.id);
    if (!entry) {
      entry = bundleRoute(route, this.dir).then(async (built) => {
        const module = (await import(pathToFileURL(built.file).href)) as { handler?: Handler };
        if (typeof module.handler !== "function") throw new Error(`${built.file} exports no handler`);
        return { handler: module.handler, bytes: built.bytes };
      });
      this.loaded.set(route.id, entry);
    }
    return entry;
  }

  async invoke(route: Route, event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const { handler } = await this.load(route);
    return handler(event, lambdaContext(route));
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function lambdaContext(route: Route): Context {
  const started = Date.now();
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: route.id,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${route.id}`,
    memoryLimitInMB: String(functionDefaults.memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${route.id}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => functionDefaults.timeoutSeconds * 1000 - (Date.now() - started),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

const PLACEHOLDER = /\{\{(ADMIN_TOKEN|USER_TOKEN|SESSION_ID|SESSION_TOKEN)\}\}/g;

/**
 * Reads an event file and fills its placeholders: `{{ADMIN_TOKEN}}` and `{{USER_TOKEN}}` with fresh
 * dev tokens, `{{SESSION_ID}}` with a session of the sample user created for the occasion through the
 * AdminCreateSession bundle (so a get, delete or deactivate finds something to act on), and
 * `{{SESSION_TOKEN}}` with that session's access token (a credential that has a current session).
 */
export async function prepareEvent(
  file: string,
  options: { jwtSecret: string; functions: BundledFunctions },
): Promise<APIGatewayProxyEventV2> {
  const text = readFileSync(file, "utf8");
  const wanted = new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1] as string));
  const values = new Map<string, string>();
  const withSession = wanted.has("SESSION_ID") || wanted.has("SESSION_TOKEN");
  if (wanted.has("ADMIN_TOKEN") || withSession) {
    values.set("ADMIN_TOKEN", await devToken(options.jwtSecret, { sub: ADMIN_SUBJECT, admin: true }));
  }
  if (wanted.has("USER_TOKEN")) {
    values.set("USER_TOKEN", await devToken(options.jwtSecret, { sub: SAMPLE_USER }));
  }
  if (withSession) {
    const session = await createSampleSession(options.functions, values.get("ADMIN_TOKEN") as string);
    values.set("SESSION_ID", session.id);
    values.set("SESSION_TOKEN", session.accessToken);
  }
  const filled = text.replace(PLACEHOLDER, (_, name: string) => values.get(name) as string);
  return JSON.parse(filled) as APIGatewayProxyEventV2;
}

async function createSampleSession(
  functions: BundledFunctions,
  adminToken: string,
): Promise<{ id: string; accessToken: string }> {
  const route = findRoute("AdminCreateSession");
  const event = JSON.parse(
    readFileSync(sampleEventPath(route.id), "utf8").replace("{{ADMIN_TOKEN}}", adminToken),
  );
  const result = await functions.invoke(route, event as APIGatewayProxyEventV2);
  const body = JSON.parse(result.body ?? "null") as { id?: unknown; access_token?: unknown } | null;
  if (result.statusCode !== 201 || typeof body?.id !== "string" || typeof body.access_token !== "string") {
    throw new Error(`Creating the sample session failed: ${result.statusCode} ${result.body}`);
  }
  return { id: body.id, accessToken: body.access_token };
}
