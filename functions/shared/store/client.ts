import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { config } from "../config.ts";
import { SessionNotFound, serviceUnavailable } from "../errors.ts";

// One client per cold start; every attempt is bounded so a frozen database turns into a 503 well
// inside the function timeout instead of a hung request.

export const dynamodb = new DynamoDBClient({
  endpoint: config.dynamodbEndpoint,
  maxAttempts: config.dbMaxAttempts,
  requestHandler: new NodeHttpHandler({
    connectionTimeout: config.dbConnectTimeoutMs,
    requestTimeout: config.dbRequestTimeoutMs,
    throwOnRequestTimeout: true,
  }),
});
export const db = DynamoDBDocumentClient.from(dynamodb, {
  marshallOptions: { removeUndefinedValues: true },
});
export const TableName = config.tableName;

const UNAVAILABLE = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "InternalServerError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "TransactionConflictException",
]);

/** Transient store failures (after the SDK's own retries) become 503; anything else is a bug. */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const meta = error as Error & { $fault?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  if (UNAVAILABLE.has(error.name) || meta.$fault === "server") return true;
  if (error.name === "TransactionCanceledException") {
    return cancellationCodes(error).some(
      (code) => code === "ThrottlingError" || code === "TransactionConflict",
    );
  }
  // Network failures (refused, reset, DNS) carry a Node error code and no HTTP response.
  return typeof meta.code === "string" && meta.$metadata?.httpStatusCode === undefined;
}

export async function call<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    if (isUnavailable(error)) throw serviceUnavailable(error);
    throw error;
  }
}

/** A single conditional write: a failed condition means the session is absent, ended or not the caller's. */
export async function conditional<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await call(send);
  } catch (error) {
    if ((error as Error).name === "ConditionalCheckFailedException") throw new SessionNotFound();
    throw error;
  }
}

/** The per-item codes of a cancelled transaction (`None` for the parts that did not fail). */
export function cancellationCodes(error: unknown): string[] {
  if ((error as Error | undefined)?.name !== "TransactionCanceledException") return [];
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.map((reason) => reason.Code ?? "None");
}

const TRANSACTION_ATTEMPTS = 6;

/**
 * TransactWriteItems, retrying contention (another transaction on the same items, which DynamoDB
 * Local rarely shows and AWS does under load) with jittered backoff inside the request's budget. A
 * transaction cancelled by a failed condition is thrown as it is, for the caller to read its codes.
 */
export async function transactWrite(TransactItems: TransactItem[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await db.send(new TransactWriteCommand({ TransactItems }));
      return;
    } catch (error) {
      const codes = cancellationCodes(error);
      const conflict =
        (error as Error).name === "TransactionConflictException" ||
        (codes.includes("TransactionConflict") && !codes.includes("ConditionalCheckFailed"));
      if (conflict && attempt < TRANSACTION_ATTEMPTS) {
        await backoff(attempt);
        continue;
      }
      if (codes.includes("ConditionalCheckFailed")) throw error;
      if (isUnavailable(error)) throw serviceUnavailable(error);
      throw error;
    }
  }
}

export type TransactItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Full-jitter backoff for attempt n (1-based) of a contended write. */
export const backoff = (attempt: number, baseMs = 20) =>
  sleep(Math.random() * baseMs * 2 ** Math.min(attempt, 6));
