import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

// `sam local invoke` of the synthesized functions (docs/local-invoke.md). SAM's `--env-vars` file
// only overrides variables the template declares, and SAM resolves a `Ref` to its logical id, so the
// local synth (`-c localInvoke=true`) declares these in every function that uses the store, empty.
// Empty means unset to functions/shared/config.ts: deployed by mistake, such a stack behaves as the
// ordinary one (Secrets Manager key, AWS's DynamoDB endpoint).

/** Declared (empty) by the local synth; set by the env-vars file. TABLE_NAME is declared anyway. */
export const LOCAL_INVOKE_VARIABLES = ["JWT_SECRET", "DYNAMODB_ENDPOINT"] as const;

export interface SamEnvSettings {
  /** DynamoDB Local as the container reaches it, e.g. http://host.docker.internal:8001. */
  endpoint: string;
  tableName: string;
  jwtSecret: string;
}

/** The `--env-vars` file: one set of values for every function (`Parameters`). */
export function samEnvVars(settings: SamEnvSettings): { Parameters: Record<string, string> } {
  return {
    Parameters: {
      TABLE_NAME: settings.tableName,
      JWT_SECRET: settings.jwtSecret,
      DYNAMODB_ENDPOINT: settings.endpoint,
    },
  };
}

export function writeSamEnvVars(file: string, settings: SamEnvSettings): void {
  mkdirSync(dirname(file), { recursive: true });
  // It holds the local signing key: readable by its owner only, like .data/jwt-secret.
  writeFileSync(file, `${JSON.stringify(samEnvVars(settings), null, 2)}\n`, { mode: 0o600 });
}
