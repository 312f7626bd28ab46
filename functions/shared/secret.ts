import { fromEnv } from "@aws-sdk/credential-provider-env";
import { Sha256 } from "@smithy/core/checksum";
import { SignatureV4 } from "@smithy/signature-v4";

// One signed GetSecretValue call instead of @aws-sdk/client-secrets-manager: the function reads one
// secret once per cold start, and the generated client (its schemas, endpoint rules, error classes and
// a second copy of the awsJson1.1 protocol) added about 25 KB to every bundle for that single call.
// The signer, the hash and the credentials are the ones the DynamoDB client already bundles.

const TIMEOUT_MS = 3_000;

export class SecretUnavailable extends Error {}

/** Reads the JWT signing key from Secrets Manager; called once per cold start by config.jwtSecret(). */
export async function readSecret(secretId: string): Promise<string> {
  const region = regionOf(secretId);
  const endpoint = new URL(
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER ??
      `https://secretsmanager.${region}.${secretId.startsWith("arn:aws-cn:") ? "amazonaws.com.cn" : "amazonaws.com"}`,
  );
  const body = JSON.stringify({ SecretId: secretId });
  const signer = new SignatureV4({
    service: "secretsmanager",
    region,
    credentials: fromEnv(),
    sha256: Sha256,
  });
  const signed = await signer.sign({
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
  });
  // fetch derives Host from the URL itself: the same value that was signed.
  const { host: _host, ...headers } = signed.headers;
  let response: Response;
  try {
    response = await fetch(new URL("/", endpoint), {
      method: "POST",
      headers,
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new SecretUnavailable(`Secrets Manager did not answer for ${secretId}`, { cause: error });
  }
  const text = await response.text();
  if (!response.ok) {
    // The error body names the type (e.g. AccessDeniedException) and carries no secret material.
    throw new SecretUnavailable(
      `GetSecretValue ${secretId} failed: ${response.status} ${text.slice(0, 300)}`,
    );
  }
  const { SecretString } = JSON.parse(text) as { SecretString?: string };
  if (!SecretString) throw new Error(`Secret ${secretId} has no SecretString`);
  return SecretString;
}

/** The region is the ARN's own; a bare secret name falls back to the function's region. */
function regionOf(secretId: string): string {
  const fromArn = secretId.startsWith("arn:") ? secretId.split(":")[3] : undefined;
  const region = fromArn || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (!region) throw new Error("AWS_REGION is not set and the secret id is not an ARN");
  return region;
}
