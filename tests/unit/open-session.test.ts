import { ProvisionedThroughputExceededException } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HttpError } from "../../functions/shared/errors.ts";
import type { CreateInput } from "../../functions/shared/input.ts";

// openSession signs the access token while the write is in flight (functions/shared/sessions.ts):
// whichever of the two fails, the answer is the one it would be if they ran one after the other, and a
// failed signature never surfaces as an unhandled rejection.

const signing = vi.hoisted(() => ({ failure: undefined as Error | undefined }));
vi.mock("../../functions/shared/auth.ts", async (original) => {
  const actual = await original<typeof import("../../functions/shared/auth.ts")>();
  return {
    ...actual,
    issueAccessToken: async (...args: Parameters<typeof actual.issueAccessToken>) => {
      if (signing.failure) throw signing.failure;
      return actual.issueAccessToken(...args);
    },
  };
});
const { openSession } = await import("../../functions/shared/sessions.ts");

const ddb = mockClient(DynamoDBDocumentClient);
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on("unhandledRejection", onUnhandled);
});
afterEach(() => {
  process.off("unhandledRejection", onUnhandled);
  signing.failure = undefined;
  ddb.reset();
});

const input = (): CreateInput => ({
  userId: "open-user",
  expiresAt: new Date(Date.now() + 3_600_000),
  ipAddress: null,
  userAgent: null,
  profile: null,
  token: null,
});
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe("openSession", () => {
  it("answers the store's 503 when the write fails, even if signing failed too", async () => {
    signing.failure = new Error("signing key unavailable");
    ddb
      .on(PutCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: "slow down", $metadata: {} }));
    const outcome = await openSession(input()).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(HttpError);
    expect(outcome).toMatchObject({ status: 503 });
    await settle();
    expect(unhandled).toEqual([]);
  });

  it("fails with the signing error once the write succeeded", async () => {
    signing.failure = new Error("signing key unavailable");
    ddb.on(PutCommand).resolves({});
    await expect(openSession(input())).rejects.toThrow("signing key unavailable");
    expect(ddb.commandCalls(PutCommand)).toHaveLength(1);
    await settle();
    expect(unhandled).toEqual([]);
  });

  it("hands out a token bound to the id it wrote", async () => {
    ddb.on(PutCommand).resolves({});
    const created = await openSession(input());
    const written = ddb.commandCalls(PutCommand)[0]?.args[0].input.Item;
    const claims = JSON.parse(Buffer.from(created.access_token.split(".")[1]!, "base64url").toString());
    expect(claims).toMatchObject({ sid: written?.id, sub: "open-user" });
    expect(created.id).toBe(written?.id);
  });
});
