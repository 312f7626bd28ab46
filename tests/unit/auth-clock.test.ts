import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { SignJWT } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { authenticate, CLOCK_TOLERANCE_SECONDS, MAX_IAT_SKEW_SECONDS } from "../../functions/shared/auth.ts";

// The exact edges of the clock checks, with the clock frozen on a whole second: `exp` and `nbf` get
// CLOCK_TOLERANCE_SECONDS of skew, an `iat` more than MAX_IAT_SKEW_SECONDS ahead is refused.

const NOW = 1_900_000_000;
// A credential that fails as a JWT is looked up as a registered session token: none is registered.
const ddb = mockClient(DynamoDBDocumentClient);
const secret = new TextEncoder().encode(process.env.JWT_SECRET);

const jwt = (claims: Record<string, unknown>) =>
  new SignJWT({ sub: "clock-user", iat: NOW, exp: NOW + 600, ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .sign(secret);

/** 200 when the user family accepts the token, else the status it answers. */
const status = (token: string): Promise<number> =>
  authenticate(`Bearer ${token}`, "user").then(
    () => 200,
    (error: { status: number }) => error.status,
  );
const outcome = async (claims: Record<string, unknown>) => status(await jwt(claims));

beforeEach(() => {
  ddb.on(GetCommand).resolves({});
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW * 1000);
});
afterEach(() => {
  vi.useRealTimers();
  ddb.reset();
});

describe("clock tolerance edges", () => {
  it("uses 30 s of tolerance and a 60 s iat skew", () => {
    expect(CLOCK_TOLERANCE_SECONDS).toBe(30);
    expect(MAX_IAT_SKEW_SECONDS).toBe(60);
  });

  it.each([
    ["exp just inside the tolerance", { exp: NOW - CLOCK_TOLERANCE_SECONDS + 1, iat: NOW - 3600 }, 200],
    ["exp at the tolerance", { exp: NOW - CLOCK_TOLERANCE_SECONDS, iat: NOW - 3600 }, 401],
    ["exp a second beyond it", { exp: NOW - CLOCK_TOLERANCE_SECONDS - 1, iat: NOW - 3600 }, 401],
    ["nbf at the tolerance", { nbf: NOW + CLOCK_TOLERANCE_SECONDS }, 200],
    ["nbf a second beyond it", { nbf: NOW + CLOCK_TOLERANCE_SECONDS + 1 }, 401],
    ["iat at the skew limit", { iat: NOW + MAX_IAT_SKEW_SECONDS }, 200],
    ["iat a second beyond it", { iat: NOW + MAX_IAT_SKEW_SECONDS + 1 }, 401],
    ["iat in the past", { iat: NOW - 86_400 }, 200],
    ["no iat", { iat: undefined }, 200],
    ["iat not a number", { iat: "now" }, 401],
  ])("%s", async (_name, claims, status) => {
    expect(await outcome(claims)).toBe(status);
  });
});

// A verified HS256 token is kept for the container's life (functions/shared/auth.ts, verifiedTokens):
// a repeat visit must still get exactly the answer jose would give at that moment.
describe("a token verified before", () => {
  const at = (seconds: number) => vi.setSystemTime(seconds * 1000);

  it("is refused once its exp is past the tolerance", async () => {
    const token = await jwt({ sub: "kept-exp", exp: NOW + 60 });
    expect(await status(token)).toBe(200);
    at(NOW + 60 + CLOCK_TOLERANCE_SECONDS - 1);
    expect(await status(token)).toBe(200);
    at(NOW + 60 + CLOCK_TOLERANCE_SECONDS);
    expect(await status(token)).toBe(401);
    at(NOW);
    expect(await status(token)).toBe(200);
  });

  it("is refused when the clock is set back before its nbf or iat", async () => {
    const token = await jwt({ sub: "kept-nbf", nbf: NOW, iat: NOW });
    expect(await status(token)).toBe(200);
    at(NOW - CLOCK_TOLERANCE_SECONDS - 1);
    expect(await status(token)).toBe(401);
    at(NOW);
    expect(await status(token)).toBe(200);
    at(NOW - MAX_IAT_SKEW_SECONDS - 1);
    expect(await status(token)).toBe(401);
  });

  it("still has its sid checked on every request", async () => {
    const token = await jwt({ sub: "kept-sid", sid: "kept-session" });
    const live = {
      id: "kept-session",
      userId: "kept-sid",
      isActive: true,
      expiresAt: new Date((NOW + 600) * 1000).toISOString(),
    };
    ddb.on(GetCommand, { Key: { id: "kept-session" } }).resolves({ Item: live });
    expect(await status(token)).toBe(200);
    ddb.on(GetCommand, { Key: { id: "kept-session" } }).resolves({ Item: { ...live, isActive: false } });
    expect(await status(token)).toBe(401);
    expect(ddb.commandCalls(GetCommand, { Key: { id: "kept-session" } })).toHaveLength(2);
  });

  it("does not make a token with another signature valid", async () => {
    const token = await jwt({ sub: "kept-sig" });
    expect(await status(token)).toBe(200);
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === "A" ? "B" : "A"}${signature.at(-1)}`;
    expect(await status(`${header}.${payload}.${flipped}`)).toBe(401);
  });
});
