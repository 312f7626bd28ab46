import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT } from "jose";

/**
 * The local HS256 key: `JWT_SECRET` when set, else a random secret generated once and kept in the
 * (git-ignored) data folder so tokens survive a restart of `npm start`.
 */
export function devSecret(dataDir: string): string {
  if (process.env.JWT_SECRET) return process.env.JWT_SECRET;
  const file = join(dataDir, "jwt-secret");
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    mkdirSync(dataDir, { recursive: true });
    const secret = randomBytes(32).toString("base64url");
    writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}

/**
 * A development JWT signed with `secret` (HS256): `scope: sessions:admin` with `admin`, bound to a
 * session with `sid`; `iss` / `aud` from JWT_ISSUER / JWT_AUDIENCE when they are set.
 */
export async function devToken(
  secret: string,
  claims: { sub: string; admin?: boolean; sid?: string; ttlSeconds?: number },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({
    ...(claims.admin && { scope: "sessions:admin" }),
    ...(claims.sid && { sid: claims.sid }),
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.ttlSeconds ?? 600));
  if (process.env.JWT_ISSUER) jwt.setIssuer(process.env.JWT_ISSUER);
  if (process.env.JWT_AUDIENCE) jwt.setAudience(process.env.JWT_AUDIENCE);
  return jwt.sign(new TextEncoder().encode(secret));
}
