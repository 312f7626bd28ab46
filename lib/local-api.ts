import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { fallbackRoute, functionDefaults, matchRoute, type Route } from "./routes.ts";

// Serves the route table over HTTP the way API Gateway's HTTP API does: each request becomes a
// payload v2.0 event for the very handler module the route's Lambda function is built from.

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** API Gateway's own payload limit; larger bodies never reach a function. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;
/** A handler never needs more of a body than this to decide (its own limit is 16 KiB). */
const KEEP_BODY_BYTES = 64 * 1024;
/** What the runner answers itself carries the headers every answer of the service does. */
const ownHeaders = () => ({
  "content-type": "application/json",
  "x-content-type-options": "nosniff",
  "x-request-id": randomUUID(),
});

const root = join(import.meta.dirname, "..");
const modules = new Map<string, Promise<Handler>>();

function load(route: Route): Promise<Handler> {
  let handler = modules.get(route.id);
  if (!handler) {
    handler = import(pathToFileURL(join(root, route.entry)).href).then(
      (m: { handler: Handler }) => m.handler,
    );
    modules.set(route.id, handler);
  }
  return handler;
}

export interface LocalApi {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startLocalApi(options: { port: number; host?: string }): Promise<LocalApi> {
  const server = createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      console.error(error);
      if (!res.headersSent) res.writeHead(500, ownHeaders());
      res.end(JSON.stringify({ message: "Internal Server Error" }));
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", resolve);
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://localhost:${port}`,
    server,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  if (body === "too large") {
    res.writeHead(413, ownHeaders()).end(JSON.stringify({ message: "Request Entity Too Large" }));
    return;
  }
  const url = requestTarget(req.url ?? "/");
  const method = req.method ?? "GET";
  const match = matchRoute(method, url.pathname);
  const route = match?.route ?? fallbackRoute;
  const event = toEvent(req, url, body, match ? `${route.method} ${route.path}` : "$default", match?.params);
  const started = Date.now();
  const context = {
    awsRequestId: randomUUID(),
    functionName: route.id,
    getRemainingTimeInMillis: () => functionDefaults.timeoutSeconds * 1000 - (Date.now() - started),
  } as Context;
  const result = await (await load(route))(event, context);
  const headers: Record<string, string | string[]> = { ...(result.headers as Record<string, string>) };
  if (result.cookies?.length) headers["set-cookie"] = result.cookies;
  const payload = result.body === undefined ? "" : result.body;
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(result.isBase64Encoded ? Buffer.from(payload, "base64") : payload);
}

async function readBody(req: IncomingMessage): Promise<Buffer | "too large"> {
  const chunks: Buffer[] = [];
  let kept = 0;
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_PAYLOAD_BYTES) return "too large";
    if (kept < KEEP_BODY_BYTES) {
      chunks.push(chunk);
      kept += chunk.length;
    }
  }
  return Buffer.concat(chunks);
}

function toEvent(
  req: IncomingMessage,
  url: { pathname: string; search: string; searchParams: URLSearchParams },
  body: Buffer,
  routeKey: string,
  rawParams: Record<string, string> | undefined,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const pathParameters = rawParams
    ? Object.fromEntries(Object.entries(rawParams).map(([k, v]) => [k, safeDecode(v)]))
    : undefined;
  const now = new Date();
  return {
    version: "2.0",
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    cookies: headers.cookie?.split(/; */),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters,
    requestContext: {
      accountId: "local",
      apiId: "local",
      domainName: headers.host ?? "localhost",
      domainPrefix: "localhost",
      http: {
        method: req.method ?? "GET",
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey,
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: body.length ? body.toString("utf8") : undefined,
    isBase64Encoded: false,
  };
}

/**
 * The path and query exactly as sent. `new URL(target, base)` would read `//host/...` as an authority
 * and resolve dot segments; API Gateway routes on the path as given.
 */
function requestTarget(target: string): { pathname: string; search: string; searchParams: URLSearchParams } {
  const q = target.indexOf("?");
  const pathname = q === -1 ? target : target.slice(0, q);
  const search = q === -1 ? "" : target.slice(q);
  return { pathname, search, searchParams: new URLSearchParams(search) };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
