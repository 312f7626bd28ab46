import { createHash } from "node:crypto";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from "jose";
import LRUCache from "../../lib/shims/lru-cache.ts";
import { config, jwtSecret } from "./config.ts";
import { forbidden, HttpError, serviceUnavailable, unauthorized } from "./errors.ts";
import { findSessionByToken, getSession, type Session } from "./store/index.ts";

export const ADMIN_SCOPE = "sessions:admin";
/** Seconds of clock skew allowed on `exp` and `nbf`. */
export const CLOCK_TOLERANCE_SECONDS = 30;
/** An `iat` further ahead than this is refused. */
export const MAX_IAT_SKEW_SECONDS = 60;
export const MAX_CREDENTIAL_BYTES = 8192;
export const MAX_SUBJECT_LENGTH = 256;
/** RFC 6750's b64token alphabet; the length range of a client-supplied session token. */
export const TOKEN_PATTERN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** A session id, in a path or a token's `sid`. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
export const TOKEN_MIN_LENGTH = 16;
export const TOKEN_MAX_LENGTH = 4096;

export interface Principal {
  sub: string;
  scopes: ReadonlySet<string>;
  /** The session a `sid`-bound JWT or an opaque token belongs to: the caller's current session. */
  sessionId?: string | undefined;
  /** That session as the credential check read it (after recording this use). */
  session?: Session | undefined;
}

export type Audience = "user" | "admin";

/**
 * Resolves `Authorization: Bearer …` to a principal, or throws 401/403 (503 only when the key source
 * or the store cannot answer). A credential that verifies as a JWT is a JWT; any other is looked up
 * as a registered session token (user family only). Recording a use of the session behind a user
 * credential is the user routes' step (functions/shared/authenticated.ts), so admin functions leave
 * that code out.
 */
export async function authenticate(
  authorization: string | undefined,
  audience: Audience,
): Promise<Principal> {
  const credential = bearer(authorization);
  if (credential === undefined) throw unauthorized("missing");
  const { principal } = await resolveCredential(credential, audience);
  return principal;
}

interface Resolved {
  principal: Principal;
  /** The JWT's verified claims; absent for an opaque token. */
  claims?: VerifiedClaims;
}

/** The credential check shared by every route and by introspection; throws 401/403 (or 503). */
async function resolveCredential(credential: string, audience: Audience): Promise<Resolved> {
  const verified = await verifyJwt(credential);
  if (verified) {
    const { claims } = verified;
    const principal = await fromClaims(claims, verified.early);
    if (audience === "admin" && !principal.scopes.has(ADMIN_SCOPE)) throw forbidden();
    return { principal, claims };
  }
  if (audience === "admin" || !isSessionToken(credential)) throw unauthorized("invalid");
  const session = await findSessionByToken(tokenDigest(credential));
  if (!session) throw unauthorized("invalid");
  if (!session.isActive) throw unauthorized("session_ended");
  return { principal: { sub: session.userId, scopes: new Set(), sessionId: session.id, session } };
}

/** RFC 7662's answer for an active credential; an inactive one is `{ active: false }` alone. */
export type Introspection =
  | { active: false }
  | {
      active: true;
      sub: string;
      sid?: string;
      exp: number;
      iat?: number;
      scope?: string;
      token_type: "Bearer";
    };

/**
 * Whether the user family would accept `credential` now, and what it stands for (RFC 7662). The
 * same check as every request, but not a use: no clock moves. `exp` is the earliest known end.
 */
export async function introspect(credential: string): Promise<Introspection> {
  let resolved: Resolved;
  try {
    if (Buffer.byteLength(credential) > MAX_CREDENTIAL_BYTES) return { active: false };
    resolved = await resolveCredential(credential, "user");
  } catch (error) {
    if (error instanceof HttpError && error.status === 401) return { active: false };
    throw error;
  }
  const { principal, claims } = resolved;
  const session = principal.session;
  const ends = [
    typeof claims?.exp === "number" ? claims.exp : undefined,
    session ? Math.floor(Date.parse(session.expiresAt) / 1000) : undefined,
    session?.idleExpiresAt ? Math.floor(Date.parse(session.idleExpiresAt) / 1000) : undefined,
  ].filter((value): value is number => value !== undefined);
  const iat =
    typeof claims?.iat === "number"
      ? claims.iat
      : session && Math.floor(Date.parse(session.createdAt) / 1000);
  const scope = [...principal.scopes].join(" ");
  return {
    active: true,
    sub: principal.sub,
    ...(session && { sid: session.id }),
    exp: Math.min(...ends),
    ...(iat !== undefined && { iat }),
    ...(scope !== "" && { scope }),
    token_type: "Bearer",
  };
}

function bearer(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_CREDENTIAL_BYTES + 16) return undefined;
  const match = /^bearer +([^\s]+) *$/i.exec(header);
  const credential = match?.[1];
  return credential !== undefined && Buffer.byteLength(credential) <= MAX_CREDENTIAL_BYTES
    ? credential
    : undefined;
}

export function isSessionToken(value: string): boolean {
  return value.length >= TOKEN_MIN_LENGTH && value.length <= TOKEN_MAX_LENGTH && TOKEN_PATTERN.test(value);
}

export function tokenDigest(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * The HS256 key imported once per cold start: given raw bytes, jose imports them into WebCrypto on
 * every call, about 35 µs of each request (measured with jwtVerify in a loop).
 */
let hmacKeyPromise: Promise<CryptoKey> | undefined;
let hmacKeyReady = false;
function hmacKey(): Promise<CryptoKey> {
  hmacKeyPromise ??= jwtSecret()
    .then((raw) =>
      crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]),
    )
    .then((key) => {
      hmacKeyReady = true;
      return key;
    })
    .catch((error: unknown) => {
      hmacKeyPromise = undefined;
      throw error;
    });
  return hmacKeyPromise;
}

interface VerifiedClaims extends JWTPayload {
  sub: string;
  /** Signed with our own secret (so a `sid` is ours to check), or by the JWKS provider. */
  issuedHere: boolean;
}

const verifyOptions = {
  issuer: config.jwtIssuer,
  audience: config.jwtAudience,
  requiredClaims: ["exp", "sub"],
  clockTolerance: CLOCK_TOLERANCE_SECONDS,
};
const ownOptions = { ...verifyOptions, algorithms: ["HS256"] };
const providerOptions = { ...verifyOptions, algorithms: ["RS256", "ES256"] };

interface Verified {
  claims: VerifiedClaims;
  /** Started while the signing key was being read (a cold start); see `earlySessionRead`. */
  early?: EarlyRead | undefined;
}

interface EarlyRead {
  sid: string;
  read: Promise<Session | undefined>;
}

/** Verified claims, or undefined for anything that is not a valid JWT: never throws but for 503. */
async function verifyJwt(credential: string): Promise<Verified | undefined> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(credential).alg;
  } catch {
    return undefined;
  }
  try {
    if (alg === "HS256") return await verifyOwnJwt(credential);
    if (jwks && (alg === "RS256" || alg === "ES256")) {
      const { payload } = await jwtVerify(credential, jwks, providerOptions);
      const claims = accepted(payload, false);
      return claims && { claims };
    }
    return undefined;
  } catch (error) {
    if (error instanceof KeysUnavailable) throw serviceUnavailable(error);
    if (error instanceof HttpError) throw error; // the signing key itself could not be loaded
    // jose throws JOSEErrors, but also plain TypeErrors for some malformed inputs: all are a 401.
    return undefined;
  }
}

/** An HS256 token signed with our own secret; see `verifiedTokens` for the repeat visits. */
async function verifyOwnJwt(credential: string): Promise<Verified | undefined> {
  const digest = tokenDigest(credential);
  const known = verifiedTokens.get(digest);
  if (known && insideClockLimits(known, Date.now() / 1000)) return { claims: known };
  if (known) verifiedTokens.delete(digest);
  const key = hmacKey();
  const early = hmacKeyReady ? undefined : earlySessionRead(credential);
  const { payload } = await jwtVerify(credential, await key, ownOptions);
  const claims = accepted(payload, true);
  if (!claims) return undefined;
  verifiedTokens.set(digest, claims);
  return { claims, early };
}

/**
 * A cold start reads the signing key from Secrets Manager before it can verify a token, and only then
 * reads the session the token's `sid` names: two waits in a row, each on a new connection. Until the
 * key is there, the session is read meanwhile (the same strongly consistent read, during the same
 * request), so the waits overlap. The read decides nothing by itself: it is used only after the token
 * has verified, and only for the `sid` it verified with (fromClaims); otherwise it is dropped.
 */
function earlySessionRead(credential: string): EarlyRead | undefined {
  let sid: unknown;
  try {
    sid = decodeJwt(credential).sid;
  } catch {
    return undefined;
  }
  if (typeof sid !== "string" || !SESSION_ID_PATTERN.test(sid)) return undefined;
  const read = getSession(sid);
  // A dropped read's failure answers nothing; a used one is awaited, and its failure is the request's.
  read.catch(() => {});
  return { sid, read };
}

/** The checks jose does not make: `sub` a string of 1–256 characters, `iat` at most 60 s ahead. */
function accepted(payload: JWTPayload, issuedHere: boolean): VerifiedClaims | undefined {
  const { sub, iat } = payload;
  if (typeof sub !== "string" || sub.length === 0 || sub.length > MAX_SUBJECT_LENGTH) return undefined;
  if (typeof iat === "number" && iat > Date.now() / 1000 + MAX_IAT_SKEW_SECONDS) return undefined;
  return Object.freeze({ ...payload, sub, issuedHere });
}

/**
 * HS256 tokens this container has already verified, by SHA-256 digest, least recently used first
 * out. jose verifies an HMAC through WebCrypto, which runs on the thread pool: about 0.2 ms of every
 * request (bench phase 3). A repeated token costs a digest and a lookup instead. The key is fixed
 * for the container's life and the issuer and audience settings too, so only the clock can change
 * jose's answer: a hit is used only while `exp`, `nbf` and `iat` are still inside their limits, else
 * jose decides again. Failures are never kept, and a `sid` is still checked on every request.
 * JWKS tokens are not kept: a key the provider withdraws must stop working when jose drops it.
 */
const verifiedTokens = new LRUCache<string, VerifiedClaims>(1000);

/** jose's own `exp` and `nbf` rules (same tolerance) and the `iat` skew limit, at `now` seconds. */
function insideClockLimits({ exp, nbf, iat }: VerifiedClaims, now: number): boolean {
  return (
    typeof exp === "number" &&
    exp > now - CLOCK_TOLERANCE_SECONDS &&
    (typeof nbf !== "number" || nbf <= now + CLOCK_TOLERANCE_SECONDS) &&
    (typeof iat !== "number" || iat <= now + MAX_IAT_SKEW_SECONDS)
  );
}

async function fromClaims(claims: VerifiedClaims, early?: EarlyRead): Promise<Principal> {
  const scopes = new Set(typeof claims.scope === "string" ? claims.scope.split(" ").filter(Boolean) : []);
  // A provider's `sid` is its own session, not ours.
  if (!claims.issuedHere || claims.sid === undefined) return { sub: claims.sub, scopes };
  if (typeof claims.sid !== "string" || !SESSION_ID_PATTERN.test(claims.sid)) throw unauthorized("invalid");
  const session = await (early?.sid === claims.sid ? early.read : getSession(claims.sid));
  if (!session?.isActive || session.userId !== claims.sub) throw unauthorized("session_ended");
  return { sub: claims.sub, scopes, sessionId: session.id, session };
}

/** The access token handed out at creation: bound to its session by `sid`, expiring with it. */
export async function issueAccessToken(
  session: Pick<Session, "id" | "userId" | "expiresAt">,
  now = new Date(),
): Promise<string> {
  const jwt = new SignJWT({ sid: session.id })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(session.userId)
    .setIssuedAt(Math.floor(now.getTime() / 1000))
    .setExpirationTime(Math.floor(Date.parse(session.expiresAt) / 1000));
  if (config.jwtIssuer) jwt.setIssuer(config.jwtIssuer);
  if (config.jwtAudience) jwt.setAudience(config.jwtAudience);
  return jwt.sign(await hmacKey());
}

// --- OIDC providers (JWKS_URL) ------------------------------------------------------------------

class KeysUnavailable extends Error {}

const JWKS_COOLDOWN_MS = 30_000;

/**
 * One remote key set per cold start. jose caches it, refetches on an unknown `kid` at most once per
 * cooldown, and refetches when the cache ages out; if that refetch fails, the keys already fetched
 * keep working. Only a key set that has never been fetched makes a request answer 503.
 */
const jwks: JWTVerifyGetKey | undefined = config.jwksUrl ? remoteKeys(new URL(config.jwksUrl)) : undefined;

function remoteKeys(url: URL): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, {
    timeoutDuration: 2_000,
    cooldownDuration: JWKS_COOLDOWN_MS,
    cacheMaxAge: 600_000,
  });
  // jose starts a cooldown only when a fetch succeeds: while the provider fails, every unknown `kid`
  // (or every request once the cache has aged out) would fetch again. After a failed fetch, the keys
  // already held answer alone until a cooldown has passed.
  let failedAt = Number.NEGATIVE_INFINITY;
  let held: JWTVerifyGetKey | undefined;
  return async (header, token) => {
    if (held && Date.now() - failedAt < JWKS_COOLDOWN_MS) return held(header, token);
    try {
      return await remote(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
        throw error;
      if (error instanceof errors.JOSEError && !isFetchFailure(error)) throw error;
      const keys = remote.jwks();
      if (!keys) throw new KeysUnavailable("JWKS could not be fetched", { cause: error });
      failedAt = Date.now();
      held = createLocalJWKSet(keys);
      return held(header, token);
    }
  };
}

function isFetchFailure(error: errors.JOSEError): boolean {
  return (
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    error.code === "ERR_JOSE_GENERIC"
  );
}
