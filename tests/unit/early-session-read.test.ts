import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sessionItem } from "../fixtures/stream-records.ts";

// On a cold start the session a `sid`-bound token names is read while the signing key is still being
// read (functions/shared/auth.ts, earlySessionRead). That read may serve the request only once the
// token has verified, and only for the `sid` it verified with.

const SID = "Qm9vbGVhbi1zZXNzaW9uLWlkLTAwMDAwMDAw";
const secret = new TextEncoder().encode(process.env.JWT_SECRET);
const ddb = mockClient(DynamoDBDocumentClient);

/** The key arrives when the test says so, as Secrets Manager's answer does on a cold start. */
const key = vi.hoisted(() => ({ release: () => {}, arrived: Promise.resolve() }));
vi.mock("../../functions/shared/config.ts", async (original) => {
  const actual = await original<typeof import("../../functions/shared/config.ts")>();
  return {
    ...actual,
    jwtSecret: async () => {
      await key.arrived;
      return actual.jwtSecret();
    },
  };
});

const token = (claims: Record<string, unknown>, signingKey: Uint8Array = secret) =>
  new SignJWT({ sub: "alice", sid: SID, ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(signingKey);

/** A fresh instance (no key yet), its key held back until `release()`. */
async function coldInstance() {
  vi.resetModules();
  key.arrived = new Promise<void>((resolve) => {
    key.release = resolve;
  });
  return import("../../functions/shared/auth.ts");
}

const reads = () => ddb.commandCalls(GetCommand).map((call) => call.args[0].input.Key?.id);
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

/**
 * The session SID; any other key (a credential that fails as a JWT is then looked up as a registered
 * token) holds nothing. With `failing`, reading SID fails as a timeout does.
 */
function store(failing = false) {
  ddb.reset();
  ddb.on(GetCommand).callsFake(({ Key }) => {
    if (Key?.id !== SID) return {};
    if (failing) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
    return { Item: sessionItem({ expiresAt: "2099-01-01T00:00:00.000Z" }) };
  });
}

afterEach(() => ddb.reset());

describe("a cold start's early session read", () => {
  it("reads the session while the key is on its way, and reads it once", async () => {
    const { authenticate } = await coldInstance();
    store();
    const answer = authenticate(`Bearer ${await token({})}`, "user");
    await settle();
    expect(reads()).toEqual([SID]); // before the key arrived
    key.release();
    const principal = await answer;
    expect(principal.sessionId).toBe(SID);
    expect(reads()).toEqual([SID]); // the early read served the check
  });

  it("serves nothing to a token that does not verify, whatever sid it names", async () => {
    const { authenticate } = await coldInstance();
    store();
    const forged = await token({}, new TextEncoder().encode("another-key-another-key-another-key-0123"));
    const answer = authenticate(`Bearer ${forged}`, "user");
    await settle();
    key.release();
    await expect(answer).rejects.toMatchObject({ status: 401 });
    expect(reads()[0]).toBe(SID); // it was read, and the read served nothing
  });

  it("is dropped when its read fails and the token does not verify: 401, not 503", async () => {
    const { authenticate } = await coldInstance();
    store(true);
    const forged = await token({}, new TextEncoder().encode("another-key-another-key-another-key-0123"));
    const answer = authenticate(`Bearer ${forged}`, "user");
    await settle();
    key.release();
    await expect(answer).rejects.toMatchObject({ status: 401 });
  });

  it("still decides by owner: another user's token naming this session is refused", async () => {
    const { authenticate } = await coldInstance();
    store();
    const answer = authenticate(`Bearer ${await token({ sub: "mallory" })}`, "user");
    await settle();
    key.release();
    await expect(answer).rejects.toMatchObject({ status: 401 });
  });

  it("is not made once the key is there: a warm instance reads after verifying", async () => {
    const { authenticate } = await coldInstance();
    store();
    key.release();
    await authenticate(`Bearer ${await token({})}`, "user");
    ddb.resetHistory();
    const forged = await token(
      { jti: "x" },
      new TextEncoder().encode("another-key-another-key-another-key-0123"),
    );
    await expect(authenticate(`Bearer ${forged}`, "user")).rejects.toMatchObject({ status: 401 });
    expect(reads()).not.toContain(SID); // only the registered-token lookup
  });
});
