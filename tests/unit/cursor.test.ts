import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../functions/shared/cursor.ts";

// A cursor's signature is compared on its one canonical spelling: Node's base64url decoder maps many
// strings to the same bytes, and each of them would otherwise be a second valid cursor.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const key = (n: number) => ({ id: `abc${n}`, feed: "all", createdAt: "2030-06-15T12:00:00.000Z" });

/** A cursor whose signature holds a `-` or `_` (three in four do), so every spelling below applies. */
async function cursorWithUrlCharacters() {
  for (let n = 0; ; n++) {
    const cursor = await encodeCursor("all", key(n));
    if (/[-_]/.test(cursor.split(".")[1] as string)) return { cursor, key: key(n) };
  }
}

describe("cursor signatures", () => {
  it("accepts the spelling it wrote", async () => {
    const { cursor, key } = await cursorWithUrlCharacters();
    await expect(decodeCursor("all", cursor)).resolves.toEqual(key);
  });

  it("refuses every other spelling of the same signature bytes with a 400", async () => {
    const { cursor } = await cursorWithUrlCharacters();
    const [payload, mac] = cursor.split(".") as [string, string];
    // 32 bytes are 43 characters; the last one carries 4 bits and 2 unused ones.
    expect(mac).toHaveLength(43);
    const last = ALPHABET.indexOf(mac.at(-1) as string);
    const spellings = {
      padded: `${mac}=`,
      "other unused trailing bits": `${mac.slice(0, -1)}${ALPHABET[last ^ 1]}`,
      "the +/ alphabet": mac.replaceAll("-", "+").replaceAll("_", "/"),
      "a stray character": `${mac.slice(0, 20)}*${mac.slice(20)}`,
    };
    for (const [name, spelling] of Object.entries(spellings)) {
      expect(spelling, name).not.toBe(mac);
      // Each spelling decodes to the very bytes of the signature: only its spelling differs.
      expect(Buffer.from(spelling, "base64url").equals(Buffer.from(mac, "base64url")), name).toBe(true);
      await expect(decodeCursor("all", `${payload}.${spelling}`), name).rejects.toMatchObject({
        status: 400,
        details: "cursor is not a valid cursor for this list",
      });
    }
  });
});
