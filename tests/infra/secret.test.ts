import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { Sha256 } from "@smithy/core/checksum";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { bundleRoute } from "../../lib/bundle.ts";

// functions/shared/secret.ts replaces the Secrets Manager client with one signed call. A local server
// plays Secrets Manager: it checks the SigV4 signature against what actually arrived and compares
// the request with the one the official client sends.

const SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sessions-jwt-AbCdEf";
const SECRET_VALUE = "k".repeat(64);
const credentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG",
  sessionToken: "FwoGZXIvYXdzEXAMPLE",
};

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  signatureValid: boolean;
}
const received: Received[] = [];
let reply: { status: number; body: unknown } = { status: 200, body: { SecretString: SECRET_VALUE } };
/** `silent`: never answers; `stalled`: sends the status line and headers, then never ends the body. */
let hang: "silent" | "stalled" | undefined;
let server: Server;
let endpoint: string;

async function signatureValid(req: IncomingMessage, body: string): Promise<boolean> {
  const authorization = String(req.headers.authorization ?? "");
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(";") ?? [];
  const signature = /Signature=([0-9a-f]+)/.exec(authorization)?.[1];
  const date = String(req.headers["x-amz-date"] ?? "");
  const signingDate = new Date(
    `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
  );
  // The payload hash is recomputed from the body that arrived, never taken from the request's header.
  const headers = Object.fromEntries(
    signedHeaders
      .filter((name) => name !== "x-amz-content-sha256")
      .map((name) => [name, String(req.headers[name] ?? "")]),
  );
  const [hostname, port] = String(req.headers.host).split(":");
  const resigned = await new SignatureV4({
    service: "secretsmanager",
    region: "eu-west-1",
    credentials,
    sha256: Sha256,
  }).sign(
    {
      method: req.method ?? "",
      protocol: "http:",
      hostname: hostname ?? "",
      port: Number(port),
      path: req.url ?? "/",
      query: {},
      headers,
      body,
    },
    { signingDate },
  );
  return signature !== undefined && String(resigned.headers.authorization).endsWith(`Signature=${signature}`);
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    received.push({
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body,
      signatureValid: await signatureValid(req, body),
    });
    if (hang === "silent") return;
    if (hang === "stalled") {
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" }).write('{"SecretString":"');
      return;
    }
    res
      .writeHead(reply.status, { "content-type": "application/x-amz-json-1.1" })
      .end(JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_SESSION_TOKEN: credentials.sessionToken,
    AWS_REGION: "us-east-1",
  });
  delete process.env.JWT_SECRET;
});
afterEach(() => {
  received.length = 0;
  reply = { status: 200, body: { SecretString: SECRET_VALUE } };
  hang = undefined;
  vi.restoreAllMocks();
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  for (const name of [
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "JWT_SECRET_ARN",
  ]) {
    delete process.env[name];
  }
});

describe("reading the JWT secret from Secrets Manager", () => {
  it("sends a correctly signed GetSecretValue, in the secret's own region, with the role's session token", async () => {
    const { readSecret } = await import("../../functions/shared/secret.ts");
    await expect(readSecret(SECRET_ARN)).resolves.toBe(SECRET_VALUE);
    const [request] = received;
    expect(request?.signatureValid).toBe(true);
    expect(request?.headers.authorization).toMatch(
      /Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request/,
    );
    expect(request?.headers["x-amz-security-token"]).toBe(credentials.sessionToken);

    // The verifier itself refuses a request whose body is not the one signed.
    const headers = Object.fromEntries(
      Object.entries(request?.headers ?? {}).filter(
        ([name]) => name.startsWith("x-amz") || name === "authorization" || name === "content-type",
      ),
    ) as Record<string, string>;
    await fetch(endpoint, { method: "POST", headers, body: JSON.stringify({ SecretId: "another" }) });
    expect(received[1]?.signatureValid).toBe(false);
  });

  it("asks exactly what the official client asks", async () => {
    const { readSecret } = await import("../../functions/shared/secret.ts");
    await readSecret(SECRET_ARN);
    const client = new SecretsManagerClient({ region: "eu-west-1", endpoint, credentials });
    await client.send(new GetSecretValueCommand({ SecretId: SECRET_ARN }));
    client.destroy();
    const [ours, official] = received;
    const essentials = (r: Received | undefined) => ({
      method: r?.method,
      url: r?.url,
      target: r?.headers["x-amz-target"],
      contentType: r?.headers["content-type"],
      body: JSON.parse(r?.body ?? "null"),
      signatureValid: r?.signatureValid,
    });
    expect(essentials(ours)).toEqual(essentials(official));
  });

  it("sends the signed request through the SDK's own HTTP handler, not fetch", async () => {
    const { readSecret } = await import("../../functions/shared/secret.ts");
    const handle = vi.spyOn(NodeHttpHandler.prototype, "handle");
    const fetching = vi.spyOn(globalThis, "fetch");
    await expect(readSecret(SECRET_ARN)).resolves.toBe(SECRET_VALUE);
    expect(fetching).not.toHaveBeenCalled();
    expect(handle).toHaveBeenCalledTimes(1);
    const [sent] = handle.mock.calls[0] ?? [];
    expect(sent).toMatchObject({ method: "POST", path: "/", body: JSON.stringify({ SecretId: SECRET_ARN }) });
    // What arrived is what was signed, and only that: undici would add accept, accept-language,
    // accept-encoding, sec-fetch-mode and its own user-agent.
    const [request] = received;
    expect(request?.signatureValid).toBe(true);
    expect(request?.headers.authorization).toBe(sent?.headers.authorization);
    expect(Object.keys(request?.headers ?? {}).sort()).toEqual(
      [...Object.keys(sent?.headers ?? {}).map((name) => name.toLowerCase()), "connection", "content-length"]
        .filter((name, i, all) => all.indexOf(name) === i)
        .sort(),
    );
  });

  it("fails with the service's error type, without a secret in the message", async () => {
    const { readSecret } = await import("../../functions/shared/secret.ts");
    reply = { status: 400, body: { __type: "AccessDeniedException", message: "not authorized" } };
    const error = await readSecret(SECRET_ARN).catch((e: unknown) => e);
    expect(String(error)).toContain("AccessDeniedException");
    expect(String(error)).not.toContain(SECRET_VALUE);
  });

  it("tells a refusal (a configuration error) from an outage (worth a retry)", async () => {
    const { readSecret, SecretUnavailable } = await import("../../functions/shared/secret.ts");
    for (const [status, type] of [
      [400, "AccessDeniedException"],
      [400, "ResourceNotFoundException"],
      [400, "DecryptionFailure"],
      [400, "UnrecognizedClientException"],
    ] as const) {
      reply = { status, body: { __type: type, message: "refused" } };
      const error = await readSecret(SECRET_ARN).catch((e: unknown) => e);
      expect(error, type).not.toBeInstanceOf(SecretUnavailable);
      expect(String(error), type).toContain("a configuration error");
    }
    for (const [status, type] of [
      [400, "ThrottlingException"],
      [400, "com.amazonaws.secretsmanager#ThrottlingException"],
      [500, "InternalServiceError"],
      [503, "ServiceUnavailable"],
    ] as const) {
      reply = { status, body: { __type: type, message: "later" } };
      const error = await readSecret(SECRET_ARN).catch((e: unknown) => e);
      expect(error, type).toBeInstanceOf(SecretUnavailable);
    }
  });

  it.each(["silent", "stalled"] as const)(
    "gives up on a Secrets Manager that is %s, as unavailable",
    async (how) => {
      const { readSecret, SecretUnavailable } = await import("../../functions/shared/secret.ts");
      hang = how;
      const error = await readSecret(SECRET_ARN).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SecretUnavailable);
      expect(received).toHaveLength(1);
    },
  );

  it("takes an empty AWS_ENDPOINT_URL_SECRETS_MANAGER as unset, not as a URL", async () => {
    const { secretsEndpoint } = await import("../../functions/shared/secret.ts");
    expect(secretsEndpoint(SECRET_ARN).href).toBe(`${endpoint}/`);
    vi.stubEnv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "");
    try {
      expect(secretsEndpoint(SECRET_ARN).href).toBe("https://secretsmanager.eu-west-1.amazonaws.com/");
      expect(secretsEndpoint("arn:aws-cn:secretsmanager:cn-north-1:1:secret:x").href).toBe(
        "https://secretsmanager.cn-north-1.amazonaws.com.cn/",
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("works inside the deployable bundle and is read once per cold start, retried after a failure", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sessions-secret-"));
    try {
      const built = await bundleRoute({ id: "ConfigProbe", entry: "functions/shared/config.ts" }, dir);
      process.env.JWT_SECRET_ARN = SECRET_ARN;
      const { jwtSecret } = (await import(
        pathToFileURL(built.file).href
      )) as typeof import("../../functions/shared/config.ts");
      reply = { status: 500, body: { __type: "InternalServiceError" } };
      // A failing Secrets Manager is a dependency outage: the requests of that cold start answer 503.
      const failure: { status?: number; cause?: unknown } = await jwtSecret().then(
        () => ({}),
        (error: unknown) => error as { status?: number; cause?: unknown },
      );
      expect(failure.status).toBe(503);
      expect(String(failure.cause)).toMatch(/InternalServiceError/);
      reply = { status: 200, body: { SecretString: SECRET_VALUE } };
      const key = await jwtSecret();
      expect(new TextDecoder().decode(key)).toBe(SECRET_VALUE);
      await jwtSecret();
      expect(received.map((r) => r.signatureValid)).toEqual([true, true]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
