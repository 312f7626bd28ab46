import { fromEnv } from "@aws-sdk/credential-provider-env";
import { Sha256 } from "@smithy/core/checksum";
import { HttpRequest } from "@smithy/core/protocols";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { SignatureV4 } from "@smithy/signature-v4";

// One signed GetSecretValue call instead of @aws-sdk/client-secrets-manager: the function reads one
// secret once per cold start, and the generated client (its schemas, endpoint rules, error classes and
// a second copy of the awsJson1.1 protocol) added about 25 KB to every bundle for that single call.
// The signer, the hash, the credentials and the HTTP handler are the ones the DynamoDB client already
// bundles. Not `fetch`: the first `fetch` of a process loads undici, 18–22 ms of the first request of
// every cold start against about 4.5 ms for the first `node:https` request.

const TIMEOUT_MS = 3_000;

/** Secrets Manager did not answer, or answered that it cannot now (throttling, a server error). */
export class SecretUnavailable extends Error {}

/** Error types that a later call may not meet; every other refusal is the deployment's to fix. */
const TRANSIENT = new Set([
  "ThrottlingException",
  "InternalServiceError",
  "ServiceUnavailable",
  "RequestTimeout",
]);

let handler: NodeHttpHandler | undefined;

/** Reads the JWT signing key from Secrets Manager; called once per cold start by config.jwtSecret(). */
export async function readSecret(secretId: string): Promise<string> {
  const region = regionOf(secretId);
  const endpoint = secretsEndpoint(secretId, region);
  const body = JSON.stringify({ SecretId: secretId });
  const signer = new SignatureV4({
    service: "secretsmanager",
    region,
    credentials: fromEnv(),
    sha256: Sha256,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: "POST",
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      ...(endpoint.port && { port: Number(endpoint.port) }),
      path: "/",
      query: {},
      headers: {
        host: endpoint.host,
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "secretsmanager.GetSecretValue",
      },
      body,
    }),
  );
  handler ??= new NodeHttpHandler({ requestTimeout: TIMEOUT_MS, throwOnRequestTimeout: true });
  // One deadline for the whole exchange, the body included: aborting destroys the request, and with
  // it a response whose body never ends.
  const abortSignal = AbortSignal.timeout(TIMEOUT_MS);
  let status: number;
  let text: string;
  try {
    const { response } = await handler.handle(signed as HttpRequest, { abortSignal });
    status = response.statusCode;
    text = await bodyText(response.body as AsyncIterable<Uint8Array>);
  } catch (error) {
    throw new SecretUnavailable(`Secrets Manager did not answer for ${secretId}`, { cause: error });
  }
  if (status < 200 || status >= 300) {
    // The error body names the type (e.g. AccessDeniedException) and carries no secret material.
    const type = errorType(text);
    const what = `GetSecretValue ${secretId} failed: ${status} ${text.slice(0, 300)}`;
    if (status >= 500 || status === 429 || TRANSIENT.has(type)) throw new SecretUnavailable(what);
    throw new Error(
      `${what} (a configuration error: the function's role, the secret or its KMS key; retrying will not help)`,
    );
  }
  const { SecretString } = JSON.parse(text) as { SecretString?: string };
  if (!SecretString) throw new Error(`Secret ${secretId} has no SecretString`);
  return SecretString;
}

/**
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER` (the SDK's own variable, for a local stand-in) when it is set and
 * not empty, else the regional endpoint.
 */
export function secretsEndpoint(secretId: string, region = regionOf(secretId)): URL {
  const override = process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
  const suffix = secretId.startsWith("arn:aws-cn:") ? "amazonaws.com.cn" : "amazonaws.com";
  return new URL(override ? override : `https://secretsmanager.${region}.${suffix}`);
}

async function bodyText(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/** `__type` of an awsJson1.1 error, without its namespace (`com.amazonaws…#ThrottlingException`). */
function errorType(text: string): string {
  try {
    const type = (JSON.parse(text) as { __type?: unknown }).__type;
    return typeof type === "string" ? (type.split("#").at(-1) ?? "") : "";
  } catch {
    return "";
  }
}

/** The region is the ARN's own; a bare secret name falls back to the function's region. */
function regionOf(secretId: string): string {
  const fromArn = secretId.startsWith("arn:") ? secretId.split(":")[3] : undefined;
  const region = fromArn || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (!region) throw new Error("AWS_REGION is not set and the secret id is not an ARN");
  return region;
}
