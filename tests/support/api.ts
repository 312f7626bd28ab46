import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { SignJWT } from "jose";
import { inject } from "vitest";
import { localClient } from "../../lib/dynamodb-local.ts";

// Helpers for integration tests: HTTP calls to the local runner, tokens signed with its secret, and a
// direct DynamoDB client for preparing or checking state the API cannot (expired, unswept items).

export const baseUrl = () => inject("baseUrl");

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** A response with the milliseconds from sending the request to reading the whole body. */
export type TimedResponse<T = any> = ApiResponse<T> & { ms: number };

export interface RequestOptions {
  method?: string;
  token?: string;
  /** A whole Authorization header, for schemes other than Bearer. */
  authorization?: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** One HTTP request to a runner at `base`; the body is parsed when it is JSON. */
export async function request<T = any>(
  base: string,
  path: string,
  options: RequestOptions = {},
): Promise<TimedResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const started = performance.now();
  const response = await fetch(`${base}${path}`, {
    method: options.method ?? "GET",
    headers,
    body,
    signal: options.signal ?? null,
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return {
    status: response.status,
    headers: response.headers,
    body: parsed as T,
    text,
    ms: performance.now() - started,
  };
}

/** A request to the shared integration runner. */
export const api = <T = any>(path: string, options: RequestOptions = {}) =>
  request<T>(baseUrl(), path, options);

export async function signToken(
  claims: Record<string, unknown>,
  options: { expiresIn?: number; secret?: string } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 600))
    .sign(new TextEncoder().encode(options.secret ?? inject("jwtSecret")));
}

export const userToken = (sub: string, claims: Record<string, unknown> = {}) => signToken({ sub, ...claims });
export const adminToken = (sub = "admin-tests") => signToken({ sub, scope: "sessions:admin" });

let counter = 0;
/** A user id no other test uses. */
export const uniqueUser = (prefix = "user") =>
  `${prefix}-${process.pid}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

let docClient: DynamoDBDocumentClient | undefined;
/** The shared integration table, or another table of the same DynamoDB Local (a test's own runner). */
export function table(TableName = inject("tableName")) {
  docClient ??= DynamoDBDocumentClient.from(localClient(inject("dynamoEndpoint")));
  return {
    get: async (id: string) =>
      (await docClient?.send(new GetCommand({ TableName, Key: { id }, ConsistentRead: true })))?.Item,
    put: (item: Record<string, unknown>) => docClient?.send(new PutCommand({ TableName, Item: item })),
    delete: (id: string) => docClient?.send(new DeleteCommand({ TableName, Key: { id } })),
  };
}
