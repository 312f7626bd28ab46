import { fromEnv } from "@aws-sdk/credential-provider-env";

// Replaces the SDK's default credential chain in the Lambda bundles (see lib/bundle.ts). Lambda hands
// a function its role's credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
// so the rest of the chain (SSO, STS web identity, INI profiles, IMDS, container endpoints) is never
// reached there, yet it carries the SSO, OIDC and STS clients: about 100 KB of every bundle.
// This holds for on-demand and provisioned functions; SnapStart (not enabled here) would need the
// container provider back.

export const defaultProvider: typeof fromEnv = (init) => fromEnv(init);
