import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { table } from "../support/api.ts";
import { call } from "../support/openapi.ts";
import {
  admin$,
  type Created,
  createFor,
  nextLink,
  plantExpired,
  plantSession,
  testUsers,
  walk,
} from "../support/sessions.ts";

const user = testUsers();
const planted: string[] = [];

const COUNT = 27;
const owner = user("pages");
/** The owner's sessions, newest first. */
let expected: string[] = [];

beforeAll(async () => {
  const created: Created[] = [];
  for (let i = 0; i < COUNT; i++) created.push(await createFor(owner));
  expected = created.map((s) => s.id).reverse();
  // Expired items not yet swept, between live ones: pages must skip them without gaps.
  for (const at of [3, 11, 20]) {
    const neighbour = created[at] as Created;
    const { id } = await plantExpired(owner, {
      createdAt: new Date(Date.parse(neighbour.created_at) + 1).toISOString(),
    });
    planted.push(id);
  }
}, 60_000);

afterAll(async () => {
  for (const id of planted) await table().delete(id);
});

const ids = (pages: { body: any[] }[]) => pages.flatMap((page) => page.body.map((s: any) => s.id));
const listPath = (userId: string) => `/sessions/user/${encodeURIComponent(userId)}`;

describe("offset pages", () => {
  it("cover the list with no duplicates or gaps, 10 by default", async () => {
    const token = await admin$();
    const first = await call(listPath(owner), { token });
    expect(first.body.map((s: any) => s.id)).toEqual(expected.slice(0, 10));
    const pages = [first];
    for (const offset of [10, 20]) {
      const page = await call(`${listPath(owner)}?limit=10&offset=${offset}`, { token });
      expect(page.status).toBe(200);
      pages.push(page);
    }
    expect(ids(pages)).toEqual(expected);
    expect(pages[2]?.body).toHaveLength(7);
    expect(nextLink(pages[0]!)).toMatch(new RegExp(`^${listPath(owner)}\\?limit=10&cursor=[\\w.-]+$`));
    expect(nextLink(pages[1]!)).toBeDefined();
    expect(pages[2]?.headers.get("link")).toBeNull();
  });

  it("give a Link that continues after the page, and none when the list ends exactly", async () => {
    const token = await admin$();
    const middle = await call(`${listPath(owner)}?limit=5&offset=8`, { token });
    expect(middle.body.map((s: any) => s.id)).toEqual(expected.slice(8, 13));
    const next = await call(nextLink(middle)!, { token });
    expect(next.body.map((s: any) => s.id)).toEqual(expected.slice(13, 18));

    const whole = await call(`${listPath(owner)}?limit=${COUNT}`, { token });
    expect(whole.body.map((s: any) => s.id)).toEqual(expected);
    expect(whole.headers.get("link")).toBeNull();
    const almost = await call(`${listPath(owner)}?limit=${COUNT - 1}`, { token });
    expect(almost.body).toHaveLength(COUNT - 1);
    const rest = await call(nextLink(almost)!, { token });
    expect(rest.body.map((s: any) => s.id)).toEqual(expected.slice(COUNT - 1));
    expect(rest.headers.get("link")).toBeNull();
  });

  it("accept offset up to 1000 and limit up to 100", async () => {
    const token = await admin$();
    const far = await call(`${listPath(owner)}?offset=1000&limit=100`, { token });
    expect(far.status).toBe(200);
    expect(far.body).toEqual([]);
    expect(far.headers.get("link")).toBeNull();
    const beyond = await call(`${listPath(owner)}?offset=${COUNT}`, { token });
    expect(beyond.body).toEqual([]);
  });
});

describe("cursor walk", () => {
  it("visits every session of a user once, newest first, in full pages until the last", async () => {
    const pages = await walk(`${listPath(owner)}?limit=7`, await admin$());
    expect(pages.map((page) => page.body.length)).toEqual([7, 7, 7, 6]);
    expect(ids(pages)).toEqual(expected);
    for (const page of pages.slice(0, -1)) {
      expect(page.headers.get("link")).toMatch(
        /^<\/sessions\/user\/[^?]+\?limit=7&cursor=[\w.-]+>; rel="next"$/,
      );
    }
  });

  it("visits sessions created at the same moment exactly once", async () => {
    const userId = user("burst");
    const created = await Promise.all(Array.from({ length: 25 }, () => createFor(userId)));
    const pages = await walk(`${listPath(userId)}?limit=4`, await admin$());
    const seen = ids(pages);
    expect(seen).toHaveLength(25);
    expect(new Set(seen)).toEqual(new Set(created.map((s) => s.id)));
    const times = pages.flatMap((page) => page.body.map((s: any) => s.created_at));
    expect(times).toEqual([...times].sort().reverse());
  });

  it("visits sessions that share one created_at exactly once when a page boundary falls among them", async () => {
    const userId = user("same-ms");
    const createdAt = new Date(Date.now() - 5_000).toISOString();
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const sameMoment = Array.from({ length: 9 }, (_, i) => `same-ms-${i}-${Date.now().toString(36)}`);
    for (const id of sameMoment) await plantSession(userId, expiresAt, { id, createdAt });
    const pages = await walk(`${listPath(userId)}?limit=2`, await admin$());
    expect(pages.map((page) => page.body.length)).toEqual([2, 2, 2, 2, 1]);
    expect(ids(pages).sort()).toEqual([...sameMoment].sort());
  });

  it("GET /sessions walks the whole table once, newest first, with every session of the user", async () => {
    const pages = await walk("/sessions?limit=9", await admin$());
    const all = pages.flatMap((page) => page.body);
    expect(new Set(all.map((s) => s.id)).size).toBe(all.length);
    expect(all.filter((s) => s.user_id === owner).map((s) => s.id)).toEqual(expected);
    expect(planted.some((id) => all.some((s) => s.id === id))).toBe(false);
    const times = all.map((s) => s.created_at);
    expect(times).toEqual([...times].sort().reverse());
    for (const page of pages.slice(0, -1)) expect(page.body).toHaveLength(9);
  });

  it("GET /sessions/ names /sessions/ in its Link and continues the same list", async () => {
    const token = await admin$();
    const first = await call("/sessions/?limit=2", { token });
    const link = nextLink(first);
    expect(link).toMatch(/^\/sessions\/\?limit=2&cursor=[\w.-]+$/);
    const cursor = new URL(link!, "http://x").searchParams.get("cursor")!;
    // Both paths serve one list, so a cursor of one resumes the other. Other test files write to the
    // same table meanwhile: read both at once, and again if a write fell between the two reads.
    for (let attempt = 0; ; attempt++) {
      const [viaSlash, viaPlain] = await Promise.all([
        call(link!, { token }),
        call(`/sessions?limit=2&cursor=${cursor}`, { token }),
      ]);
      expect(viaSlash.status).toBe(200);
      expect(viaSlash.body.length).toBeGreaterThan(0);
      expect(viaSlash.body[0].created_at <= first.body[1].created_at).toBe(true);
      if (attempt < 4 && JSON.stringify(viaSlash.body) !== JSON.stringify(viaPlain.body)) continue;
      expect(viaPlain.body).toEqual(viaSlash.body);
      break;
    }
  });
});

describe("bad cursors", () => {
  const invalid = { detail: "cursor is not a valid cursor for this list", code: "VALIDATION_ERROR" };

  async function cursorOf(path: string) {
    const response = await call(path, { token: await admin$() });
    const link = nextLink(response);
    expect(link).toBeDefined();
    return new URL(link!, "http://x").searchParams.get("cursor")!;
  }

  it("answers 400 for a tampered cursor", async () => {
    const token = await admin$();
    const cursor = await cursorOf(`${listPath(owner)}?limit=3`);
    const [payload, signature] = cursor.split(".") as [string, string];
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, "base64url").toString()), l: `user:${user("x")}` }),
    ).toString("base64url");
    for (const bad of [
      `${flip(payload, 5)}.${signature}`,
      `${payload}.${flip(signature, 3)}`,
      `${forged}.${signature}`,
      payload,
      `${cursor}.x`,
      "",
      "garbage",
      "a".repeat(9000),
    ]) {
      const response = await call(`${listPath(owner)}?limit=3&cursor=${encodeURIComponent(bad)}`, { token });
      expect(response.status, bad.slice(0, 40)).toBe(400);
      expect(response.body).toEqual(invalid);
    }
  });

  it("answers 400 for another list's cursor", async () => {
    const token = await admin$();
    const mine = await cursorOf(`${listPath(owner)}?limit=3`);
    const other = user("other-list");
    await createFor(other);
    await createFor(other);
    const theirs = await cursorOf(`${listPath(other)}?limit=1`);
    const all = await cursorOf("/sessions?limit=1");
    for (const [path, cursor] of [
      [listPath(other), mine],
      [listPath(owner), theirs],
      [listPath(owner), all],
      ["/sessions", mine],
      ["/sessions/", theirs],
    ] as const) {
      const response = await call(`${path}?limit=3&cursor=${cursor}`, { token });
      expect(response.status, path).toBe(400);
      expect(response.body).toEqual(invalid);
    }
  });

  it("answers 400 for cursor together with offset", async () => {
    const cursor = await cursorOf(`${listPath(owner)}?limit=3`);
    for (const offset of ["0", "3"]) {
      const response = await call(`${listPath(owner)}?limit=3&offset=${offset}&cursor=${cursor}`, {
        token: await admin$(),
      });
      expect(response.status).toBe(400);
      expect(response.body).toEqual({
        detail: "cursor and offset cannot be combined",
        code: "VALIDATION_ERROR",
      });
    }
  });
});
