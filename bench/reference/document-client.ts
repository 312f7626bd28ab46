import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";

// Not a function of the service: the floor phases 1 and 2 compare with. Only the DynamoDB client the
// contract prescribes, constructed at import as every function constructs it, bundled the same way.

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = (event: { id: string }) =>
  db.send(new GetCommand({ TableName: process.env.TABLE_NAME, Key: { id: event.id }, ConsistentRead: true }));
