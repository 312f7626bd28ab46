import { createHmac, timingSafeEqual } from "node:crypto";
import { jwtSecret } from "./config.ts";
import { badRequest } from "./errors.ts";
import type { PageKey } from "./store/index.ts";

// Page cursors are `base64url(json).base64url(hmac)`. The HMAC (keyed from the JWT secret with its own
// label) makes them tamper-evident, and the list they were issued for is inside the signed payload,
// so a cursor only ever resumes its own list. A plain HMAC, not a JWT: there is no issuer, audience
// or expiry to check, and it keeps cursors short enough for a Link header.

const LABEL = "sessions-cursor-v1";

async function mac(payload: string): Promise<Buffer> {
  const key = createHmac("sha256", await jwtSecret())
    .update(LABEL)
    .digest();
  return createHmac("sha256", key).update(payload).digest();
}

export async function encodeCursor(list: string, key: PageKey): Promise<string> {
  const payload = Buffer.from(JSON.stringify({ l: list, k: key })).toString("base64url");
  return `${payload}.${(await mac(payload)).toString("base64url")}`;
}

export async function decodeCursor(list: string, cursor: string): Promise<PageKey> {
  const invalid = badRequest("cursor is not a valid cursor for this list");
  const [payload, signature, extra] = cursor.split(".");
  if (!payload || !signature || extra !== undefined || cursor.length > 8192) throw invalid;
  const expected = await mac(payload);
  // Node's base64url decoder forgives: padding, the `+/` alphabet, stray characters and unused
  // trailing bits all decode to the same bytes. Only the one spelling encodeCursor writes is accepted.
  const given = Buffer.from(signature, "base64url");
  if (given.toString("base64url") !== signature) throw invalid;
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    throw invalid;
  }
  const { l, k } = (decoded ?? {}) as { l?: unknown; k?: unknown };
  if (l !== list || typeof k !== "object" || k === null) throw invalid;
  const entries = Object.entries(k);
  if (entries.length === 0 || !entries.every(([, v]) => typeof v === "string")) throw invalid;
  return Object.fromEntries(entries) as PageKey;
}
