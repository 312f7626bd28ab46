// An OIDC provider's key set signs tokens for every app and tenant the provider serves: only the
// issuer and this API's audience tell ours apart. So `JWKS_URL` without both `JWT_ISSUER` and
// `JWT_AUDIENCE` is a configuration error, refused by the functions at cold start, by `npm start`
// and `npm run invoke` before they start anything, and by `cdk synth`.

export interface JwksSettings {
  jwksUrl?: string | undefined;
  jwtIssuer?: string | undefined;
  jwtAudience?: string | undefined;
}

/** How each setting is spelled where it was read: environment variables, or CDK context keys. */
export const environmentNames = { jwksUrl: "JWKS_URL", jwtIssuer: "JWT_ISSUER", jwtAudience: "JWT_AUDIENCE" };

/** The one-line message naming what is missing, or undefined when the settings are consistent. */
export function jwksSettingsProblem(
  settings: JwksSettings,
  names: typeof environmentNames = environmentNames,
): string | undefined {
  if (settings.jwksUrl === undefined) return undefined;
  const missing = [
    settings.jwtIssuer === undefined ? names.jwtIssuer : undefined,
    settings.jwtAudience === undefined ? names.jwtAudience : undefined,
  ].filter((name) => name !== undefined);
  if (missing.length === 0) return undefined;
  return `${names.jwksUrl} is set without ${missing.join(" and ")}: a provider's key set signs tokens for other apps and tenants too, so set both ${names.jwtIssuer} and ${names.jwtAudience} (or unset ${names.jwksUrl})`;
}

/** The check on environment variables, an empty value counting as unset (as functions/shared/config.ts reads them). */
export function jwksEnvironmentProblem(
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  const read = (name: string) => (env[name] === "" ? undefined : env[name]);
  return jwksSettingsProblem({
    jwksUrl: read(environmentNames.jwksUrl),
    jwtIssuer: read(environmentNames.jwtIssuer),
    jwtAudience: read(environmentNames.jwtAudience),
  });
}
