import { jwksSettingsProblem } from "../../lib/jwks-settings.ts";
import { HttpError, internalError, serviceUnavailable } from "./errors.ts";
import { type LifecycleSettings, lifecycleSettings } from "./lifecycle-settings.ts";
import { readSecret, SecretUnavailable } from "./secret.ts";

// Configuration is read once per cold start; a missing or malformed value fails loudly with its name.

function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === "" ? undefined : value;
}

function intEnv(name: string, fallback: number, min: number): number {
  const raw = optionalEnv(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(`Environment variable ${name} must be an integer >= ${min}, got "${raw}"`);
  }
  return value;
}

const sessionTtlSeconds = intEnv("SESSION_TTL_SECONDS", 86_400, 1);

export const config = {
  tableName: optionalEnv("TABLE_NAME") ?? "sessions",
  dynamodbEndpoint: optionalEnv("DYNAMODB_ENDPOINT"),
  sessionTtlSeconds,
  sessionMaxTtlSeconds: Math.max(intEnv("SESSION_MAX_TTL_SECONDS", 2_592_000, 1), sessionTtlSeconds),
  jwtIssuer: optionalEnv("JWT_ISSUER"),
  jwtAudience: optionalEnv("JWT_AUDIENCE"),
  jwksUrl: optionalEnv("JWKS_URL"),
  /** Milliseconds one DynamoDB attempt may take before it is abandoned. */
  dbRequestTimeoutMs: intEnv("DYNAMODB_REQUEST_TIMEOUT_MS", 2_000, 1),
  dbConnectTimeoutMs: intEnv("DYNAMODB_CONNECT_TIMEOUT_MS", 1_000, 1),
  dbMaxAttempts: intEnv("DYNAMODB_MAX_ATTEMPTS", 3, 1),
} as const;

const jwksProblem = jwksSettingsProblem(config);
if (jwksProblem !== undefined) throw new Error(jwksProblem);

// --- Session lifecycle (CONTRACT section 8): idle clock, use recording, per-user cap -------------

/** Validated once per cold start; the local runner checks the same values before it starts. */
export const lifecycle: LifecycleSettings = lifecycleSettings(optionalEnv);

/**
 * The HS256 key. Locally and in tests it is `JWT_SECRET`; on AWS the stack passes `JWT_SECRET_ARN`
 * and the key is read from Secrets Manager once per cold start (see functions/shared/secret.ts).
 * It fails as an HttpError, never a plain Error: the token check would take one for a bad token.
 */
let secretPromise: Promise<Uint8Array<ArrayBuffer>> | undefined;
export function jwtSecret(): Promise<Uint8Array<ArrayBuffer>> {
  secretPromise ??= loadSecret().catch((error: unknown) => {
    secretPromise = undefined;
    throw error instanceof HttpError ? error : internalError(error);
  });
  return secretPromise;
}

async function loadSecret(): Promise<Uint8Array<ArrayBuffer>> {
  const inline = optionalEnv("JWT_SECRET");
  if (inline !== undefined) return encodeSecret(inline, "JWT_SECRET");
  const arn = optionalEnv("JWT_SECRET_ARN");
  if (arn === undefined)
    throw new Error("Missing required environment variable JWT_SECRET (or JWT_SECRET_ARN)");
  try {
    return encodeSecret(await readSecret(arn), "JWT_SECRET_ARN");
  } catch (error) {
    // Secrets Manager down, throttling or not answering is an outage of a dependency (503), like the
    // store's. A refusal (AccessDenied, a missing secret, a KMS key the role may not use) is a
    // configuration bug that no retry mends: it becomes a 500, logged with its cause.
    if (error instanceof SecretUnavailable) throw serviceUnavailable(error);
    throw error;
  }
}

function encodeSecret(value: string, name: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length < 32) throw new Error(`${name} must be at least 32 bytes for HS256`);
  return bytes;
}
