import { randomBytes } from "node:crypto";
import { issueAccessToken, tokenDigest } from "./auth.ts";
import { lifecycle } from "./config.ts";
import { SessionLimitReached, sessionLimitReached, TokenAlreadyRegistered, tokenConflict } from "./errors.ts";
import type { CreateInput } from "./input.ts";
import { type SessionResource, toResource } from "./resource.ts";
import { createSession } from "./store/index.ts";

/** 192 random bits, URL-safe: unguessable and valid in a path segment. */
export const newSessionId = () => randomBytes(24).toString("base64url");

export interface CreatedSession extends SessionResource {
  /** The session's credential, shown once: the caller's own token, or else the access token. */
  token: string;
  access_token: string;
}

/**
 * Both create routes: stores the session (and the digest of a supplied token), mints its JWT.
 * `createdBy` is the admin's `sub`, kept for the lifecycle event.
 */
export async function openSession(
  input: CreateInput,
  now = new Date(),
  createdBy?: string,
): Promise<CreatedSession> {
  const id = newSessionId();
  // The access token needs nothing the write returns, so it is signed (WebCrypto, on Node's thread
  // pool) while the write is in flight; it is handed out only if the write succeeds.
  const signing = issueAccessToken(
    { id, userId: input.userId, expiresAt: input.expiresAt.toISOString() },
    now,
  );
  signing.catch(() => {}); // awaited below; a failure must not count as unhandled before that
  let session: Awaited<ReturnType<typeof createSession>>;
  try {
    session = await createSession({
      id,
      userId: input.userId,
      createdAt: now,
      expiresAt: input.expiresAt,
      ipAddress: input.ipAddress,
      userAgent: input.userAgent,
      profile: input.profile,
      tokenDigest: input.token === null ? null : tokenDigest(input.token),
      createdBy,
    });
  } catch (error) {
    if (error instanceof TokenAlreadyRegistered) throw tokenConflict();
    if (error instanceof SessionLimitReached) throw sessionLimitReached(lifecycle.maxPerUser);
    throw error;
  }
  const accessToken = await signing;
  return { ...toResource(session), token: input.token ?? accessToken, access_token: accessToken };
}
