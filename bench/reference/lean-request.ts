import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { fromEnv } from "@aws-sdk/credential-provider-env";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import middy from "@middy/core";
import { Sha256 } from "@smithy/core/checksum";
import { HttpRequest } from "@smithy/core/protocols";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { SignatureV4 } from "@smithy/signature-v4";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { jwtVerify } from "jose";

// Not a function of the service: the floor of the cold first request (bench phase `first`). The lean
// handler of lean-handler.ts (middy, jose, a DocumentClient read by the token's `sid`), with its HS256
// key read from Secrets Manager on the first request, as a deployed function must: one GetSecretValue,
// signed and sent with the signer and HTTP handler the DynamoDB client bundles anyway.

const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: process.env.DYNAMODB_ENDPOINT }));
let key: Promise<Uint8Array> | undefined;

async function readKey(): Promise<Uint8Array> {
  const endpoint = new URL(process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER as string);
  const body = JSON.stringify({ SecretId: process.env.JWT_SECRET_ARN });
  const signer = new SignatureV4({
    service: "secretsmanager",
    region: process.env.AWS_REGION as string,
    credentials: fromEnv(),
    sha256: Sha256,
  });
  const request = await signer.sign(
    new HttpRequest({
      method: "POST",
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      port: Number(endpoint.port),
      path: "/",
      headers: {
        host: endpoint.host,
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "secretsmanager.GetSecretValue",
      },
      body,
    }),
  );
  const { response } = await new NodeHttpHandler().handle(request as HttpRequest);
  const chunks: Uint8Array[] = [];
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) chunks.push(chunk);
  const { SecretString } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { SecretString: string };
  return new TextEncoder().encode(SecretString);
}

export const handler = middy(async (event: APIGatewayProxyEventV2) => {
  key ??= readKey();
  const token = event.headers.authorization?.slice("Bearer ".length) ?? "";
  const { payload } = await jwtVerify(token, await key, { algorithms: ["HS256"] });
  const { Item } = await db.send(
    new GetCommand({ TableName: process.env.TABLE_NAME, Key: { id: payload.sid }, ConsistentRead: true }),
  );
  return { statusCode: Item ? 200 : 404, body: JSON.stringify(Item ?? null) };
});
