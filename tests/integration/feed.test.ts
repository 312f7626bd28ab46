import { describe, expect, it } from "vitest";
import { call } from "../support/openapi.ts";
import { admin$, type Created, createFor, nextLink, testUsers } from "../support/sessions.ts";

// GET /sessions merges the feed's write shards: a walk through its cursors must be exactly newest
// first, with no duplicate and no gap, while new sessions keep arriving (CONTRACT section 3).

const user = testUsers();

describe("walking GET /sessions while sessions are being created", () => {
  it("sees every earlier session once, newest first", async () => {
    const owner = user("feed-walk");
    const before: Created[] = [];
    for (let i = 0; i < 40; i++) before.push(await createFor(owner));
    const admin = await admin$();

    let creating = true;
    const arrivals: Promise<Created>[] = [];
    const creator = (async () => {
      while (creating) {
        arrivals.push(createFor(user("feed-arrival")));
        await arrivals.at(-1);
      }
    })();

    const seen: { id: string; created_at: string }[] = [];
    let next: string | undefined = "/sessions?limit=3";
    let pages = 0;
    // The walk stops at the oldest of this test's sessions: older ones belong to other tests.
    const oldest = before[0] as Created;
    while (next && !seen.some((s) => s.id === oldest.id)) {
      const page = await call<any[]>(next, { token: admin });
      expect(page.status, page.text).toBe(200);
      seen.push(...page.body.map((s: any) => ({ id: s.id as string, created_at: s.created_at as string })));
      next = nextLink(page);
      pages++;
      expect(pages).toBeLessThan(2_000);
    }
    creating = false;
    await creator;
    await Promise.all(arrivals);

    const ids = seen.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    const times = seen.map((s) => s.created_at);
    expect(times).toEqual([...times].sort().reverse());
    for (const session of before) expect(ids).toContain(session.id);
    expect(arrivals.length).toBeGreaterThan(0);
  }, 120_000);
});
