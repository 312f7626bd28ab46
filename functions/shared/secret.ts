import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

/** Reads the JWT signing key from Secrets Manager; called once per cold start by config.jwtSecret(). */
export async function readSecret(secretId: string): Promise<string> {
  const client = new SecretsManagerClient({});
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (!SecretString) throw new Error(`Secret ${secretId} has no SecretString`);
  return SecretString;
}
