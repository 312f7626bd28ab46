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

export async function api<T = any>(
  path: string,
  options: {
    method?: string;
    token?: string;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const response = await fetch(`${baseUrl()}${path}`, { method: options.method ?? "GET", headers, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

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
export function table() {
  docClient ??= DynamoDBDocumentClient.from(localClient(inject("dynamoEndpoint")));
  const TableName = inject("tableName");
  return {
    get: async (id: string) =>
      (await docClient?.send(new GetCommand({ TableName, Key: { id }, ConsistentRead: true })))?.Item,
    put: (item: Record<string, unknown>) => docClient?.send(new PutCommand({ TableName, Item: item })),
    delete: (id: string) => docClient?.send(new DeleteCommand({ TableName, Key: { id } })),
  };
}
