import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../functions/shared/cursor.ts";
import { HttpError } from "../../functions/shared/errors.ts";
import { createInput, pageParams, parseExpiry } from "../../functions/shared/input.ts";

const now = new Date("2030-06-15T12:00:00.000Z");

function badRequest(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
    return (error as HttpError).details;
  }
  throw new Error("expected a 400");
}

describe("expiresAt", () => {
  it.each([
    ["2030-06-15T13:00:00Z", "2030-06-15T13:00:00.000Z"],
    ["2030-06-15T13:00:00.5+01:00", "2030-06-15T12:00:00.500Z"],
    ["2030-06-15t13:00:00.123456789z", "2030-06-15T13:00:00.123Z"],
    ["2030-06-16T00:00:00-05:30", "2030-06-16T05:30:00.000Z"],
  ])("accepts %s as %s", (input, instant) => {
    expect(parseExpiry(input, "expiresAt", now).toISOString()).toBe(instant);
  });

  it.each([
    "2030-06-15T13:00:00", // no zone
    "2030-06-15 13:00:00Z",
    "2030-02-30T00:00:00Z", // no such day
    "2030-06-15T24:00:00Z",
    "2030-06-15T13:00:60Z",
    "2030-06-15T13:00:00+24:00",
    "1718000000",
    "",
  ])("rejects %j as not RFC 3339", (input) => {
    expect(badRequest(() => parseExpiry(input, "expiresAt", now))).toContain("RFC 3339");
  });

  it("rejects a non-string, the present instant, and more than the maximum lifetime ahead", () => {
    expect(badRequest(() => parseExpiry(1_900_000_000, "expires_at", now))).toContain(
      "expires_at must be an RFC 3339",
    );
    expect(badRequest(() => parseExpiry("2030-06-15T12:00:00Z", "expiresAt", now))).toBe(
      "expiresAt must be in the future",
    );
    expect(badRequest(() => parseExpiry("2030-07-15T12:00:00.001Z", "expiresAt", now))).toContain(
      "at most 2592000 seconds",
    );
    expect(parseExpiry("2030-07-15T12:00:00Z", "expiresAt", now).toISOString()).toBe(
      "2030-07-15T12:00:00.000Z",
    );
  });
});

describe("create body", () => {
  it("defaults the lifetime to 24 hours and the optional fields to null", () => {
    expect(createInput({ userId: "u1" }, undefined, now)).toEqual({
      userId: "u1",
      expiresAt: new Date("2030-06-16T12:00:00.000Z"),
      token: null,
      ipAddress: null,
      userAgent: null,
      profile: null,
    });
  });

  it("takes a numeric user id as its decimal string and accepts equal aliases", () => {
    expect(createInput({ userId: 123, user_id: "123" }, undefined, now).userId).toBe("123");
    expect(createInput({}, "path-user", now).userId).toBe("path-user");
    expect(createInput({ user_id: "path-user" }, "path-user", now).userId).toBe("path-user");
  });

  it.each([
    [{ userId: "" }, "userId must be a string of 1-256 characters"],
    [{ userId: "x".repeat(257) }, "userId must be a string of 1-256 characters"],
    [{ userId: 1.5 }, "userId must be a string or a safe integer"],
    [{ userId: "lone \ud800 surrogate" }, "userId must be a string of 1-256 characters"],
    [{ userId: "u", user_agent: "\udfff" }, "user_agent must be a string"],
    [{ userId: true }, "userId must be a string"],
    [{ userId: "u", user_agent: "a".repeat(513) }, "user_agent must be a string of at most 512"],
    [{ userId: "u", user: ["x"] }, "user must be a JSON object"],
    [{ userId: "u", user: { bio: "x".repeat(1100) } }, "user must be at most 1024 bytes"],
    [{ userId: "u", user: { a: [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]] } }, "at most 16 levels deep"],
    [{ userId: "u", token: "has spaces in it!!" }, "token must be 16-4096"],
    [{ userId: "u", token: "=".repeat(16) }, "token must be 16-4096"],
    [{ userId: "u", ip_address: "1.2.3" }, "ip_address must be an IPv4 or IPv6"],
    [
      { userId: "u", expiresAt: "2030-06-16T00:00:00Z", expires_at: "2030-06-17T00:00:00Z" },
      "both given and differ",
    ],
  ])("rejects %j", (body, message) => {
    expect(badRequest(() => createInput(body, undefined, now))).toContain(message);
  });

  it("rejects a profile nested deeper than JSON.stringify can recurse, without overflowing", () => {
    const deep = JSON.parse(`{"a":${"[".repeat(6000)}${"]".repeat(6000)}}`);
    expect(badRequest(() => createInput({ userId: "u", user: deep }, undefined, now))).toContain(
      "levels deep",
    );
  });

  it("rejects a body user id that differs from the path", () => {
    expect(badRequest(() => createInput({ userId: "other" }, "path-user", now))).toBe(
      "user_id in the body differs from the user_id in the path",
    );
  });
});

describe("pages and cursors", () => {
  const event = (query: Record<string, string | undefined>) => ({ queryStringParameters: query });

  it("defaults to limit 10 offset 0 and bounds both", async () => {
    expect(await pageParams(event({}), "all")).toEqual({ limit: 10, offset: 0 });
    expect(await pageParams(event({ limit: "100", offset: "1000" }), "all")).toEqual({
      limit: 100,
      offset: 1000,
    });
    for (const query of [
      { limit: "0" },
      { limit: "101" },
      { limit: "1.5" },
      { limit: "-1" },
      { limit: "" },
      { offset: "1001" },
      { offset: "x" },
    ]) {
      await expect(pageParams(event(query), "all")).rejects.toMatchObject({ status: 400 });
    }
  });

  it("round-trips a cursor bound to its list, and refuses tampering, other lists and cursor with offset", async () => {
    const key = { id: "abc", feed: "all", createdAt: "2030-06-15T12:00:00.000Z" };
    const cursor = await encodeCursor("all", key);
    expect(await pageParams(event({ cursor, limit: "5" }), "all")).toEqual({
      limit: 5,
      offset: 0,
      startKey: key,
    });

    const [payload, mac] = cursor.split(".") as [string, string];
    const forged = Buffer.from(JSON.stringify({ l: "all", k: { ...key, id: "zzz" } })).toString("base64url");
    for (const bad of [
      `${forged}.${mac}`,
      `${payload}.${mac.slice(0, -2)}AA`,
      payload,
      `${cursor}.x`,
      "%%%",
    ]) {
      await expect(decodeCursor("all", bad)).rejects.toMatchObject({ status: 400 });
    }
    await expect(decodeCursor("user:alice", cursor)).rejects.toMatchObject({ status: 400 });
    await expect(pageParams(event({ cursor, offset: "0" }), "all")).rejects.toMatchObject({
      details: "cursor and offset cannot be combined",
    });
  });
});
