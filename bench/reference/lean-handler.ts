import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import middy from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { jwtVerify } from "jose";

// Not a function of the service: the lean handler issue 4 quotes for its cold-init target (middy,
// jose and a DocumentClient read, nothing else), bundled the same way as the service's functions.

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const key = new TextEncoder().encode(process.env.JWT_SECRET);

export const handler = middy(async (event: APIGatewayProxyEventV2) => {
  const token = event.headers.authorization?.slice("Bearer ".length) ?? "";
  const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"] });
  const { Item } = await db.send(
    new GetCommand({ TableName: process.env.TABLE_NAME, Key: { id: payload.sid }, ConsistentRead: true }),
  );
  return { statusCode: Item ? 200 : 404, body: JSON.stringify(Item ?? null) };
});
