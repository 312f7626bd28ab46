import { describe, expect, it } from "vitest";
import { adminToken, api, table, uniqueUser, userToken } from "../support/api.ts";
import { pool, sleep } from "./local-stack.ts";

// Concurrency on the real store: the guarantees must come from DynamoDB's conditional writes and
// strongly consistent reads, not from the order requests happen to arrive in.

async function createFor(userId: string, admin: string, body: Record<string, unknown> = {}) {
  const r = await api(`/sessions/user/${userId}`, { method: "POST", token: admin, body });
  expect(r.status, r.text).toBe(201);
  return r.body as { id: string; access_token: string; token: string; created_at: string };
}

describe("races", () => {
  it("50 concurrent deactivations: 50 non-5xx answers, one state change, the first deactivated_at kept", async () => {
    const admin = await adminToken();
    const user = uniqueUser("race-deact");
    const token = await userToken(user);
    const session = await createFor(user, admin);
    const sent = new Date().toISOString();
    const replies = await Promise.all(
      Array.from({ length: 50 }, () =>
        api(`/api/sessions/${session.id}/deactivate`, { method: "PATCH", token }).then((r) => ({
          ...r,
          at: new Date().toISOString(),
        })),
      ),
    );
    for (const r of replies) {
      expect(r.status, r.text).toBe(200);
      expect(r.body).toMatchObject({ success: true, message: "Session deactivated successfully" });
    }
    const firstAck = replies.map((r) => r.at).sort()[0] as string;
    const after = await api(`/sessions/${session.id}`, { token: admin });
    expect(after.body.is_active).toBe(false);
    const deactivatedAt = after.body.deactivated_at as string;
    expect(deactivatedAt >= sent.slice(0, 19)).toBe(true);
    expect(deactivatedAt <= firstAck).toBe(true);
    expect(after.body.updated_at).toBe(deactivatedAt);
    expect((await table().get(session.id))?.deactivatedAt).toBe(deactivatedAt);

    await sleep(20);
    const again = await Promise.all(
      Array.from({ length: 10 }, () =>
        api(`/api/sessions/${session.id}/deactivate`, { method: "PATCH", token }),
      ),
    );
    expect(again.map((r) => r.status)).toEqual(Array(10).fill(200));
    const later = await api(`/sessions/${session.id}`, { token: admin });
    expect(later.body).toMatchObject({
      deactivated_at: deactivatedAt,
      updated_at: deactivatedAt,
      is_active: false,
    });
  });

  it("100 trials of revoke versus use: no token accepted once the revoke was acknowledged", async () => {
    const admin = await adminToken();
    const trials = Array.from({ length: 100 }, (_, i) => i);
    let acceptedBefore = 0;
    let refusedAfter = 0;
    await pool(trials, 6, async (i) => {
      const user = uniqueUser("race-revoke");
      const opaque = `revoke-${i}-${crypto.randomUUID()}`;
      const session = await createFor(user, admin, { token: opaque });
      const credential = i % 2 === 0 ? session.access_token : opaque;
      const revoke =
        i % 4 < 2
          ? { path: `/api/sessions/${session.id}`, method: "DELETE" }
          : { path: `/api/sessions/${session.id}/deactivate`, method: "PATCH" };
      const uses: { sentAt: number; status: number }[] = [];
      let revokedAt = Number.POSITIVE_INFINITY;
      const useLoop = async () => {
        for (let n = 0; n < 40; n++) {
          const sentAt = performance.now();
          if (sentAt > revokedAt + 50) break;
          const r = await api("/api/sessions", { token: credential });
          uses.push({ sentAt, status: r.status });
        }
      };
      const revoker = (async () => {
        await sleep(i % 7);
        const r = await api(revoke.path, { method: revoke.method, token: await userToken(user) });
        expect(r.status, r.text).toBe(200);
        revokedAt = performance.now();
      })();
      await Promise.all([useLoop(), useLoop(), revoker]);
      const after = await api("/api/sessions", { token: credential });
      uses.push({ sentAt: performance.now(), status: after.status });
      for (const use of uses) {
        expect([200, 401]).toContain(use.status);
        if (use.sentAt > revokedAt) {
          expect(use.status, `trial ${i}: used after the revoke was acknowledged`).toBe(401);
          refusedAfter++;
        } else if (use.status === 200) acceptedBefore++;
      }
    });
    // Both sides of the race were exercised.
    expect(refusedAfter).toBeGreaterThanOrEqual(100);
    expect(acceptedBefore).toBeGreaterThan(0);
  }, 120_000);

  it("delete-all racing with creates leaves no session acknowledged before the delete began", async () => {
    const admin = await adminToken();
    for (let trial = 0; trial < 4; trial++) {
      const user = uniqueUser("race-delall");
      const token = await userToken(user);
      const before = await pool(Array.from({ length: 30 }), 8, (_, i) =>
        createFor(user, admin, i % 3 === 0 ? { token: `delall-${trial}-${i}-${crypto.randomUUID()}` } : {}),
      );
      const during: { id: string }[] = [];
      let deleting = true;
      const creator = async () => {
        while (deleting) {
          const r = await api(`/sessions/user/${user}`, { method: "POST", token: admin });
          expect(r.status).toBe(201);
          during.push(r.body);
        }
      };
      const creators = [creator(), creator(), creator()];
      await sleep(5);
      const deleted = await api("/api/sessions", { method: "DELETE", token });
      deleting = false;
      await Promise.all(creators);
      expect(deleted.status, deleted.text).toBe(200);
      expect(deleted.body).toMatchObject({ success: true, message: "All sessions deleted successfully" });
      for (const session of before) {
        expect(await table().get(session.id), `trial ${trial}: ${session.id} survived`).toBeUndefined();
        expect((await api(`/sessions/${session.id}`, { token: admin })).status).toBe(404);
        const reuse = await api("/api/sessions", { token: session.token });
        expect(reuse.status).toBe(401);
      }
      expect(during.length).toBeGreaterThan(0);
      for (const session of during) {
        const read = await api(`/sessions/${session.id}`, { token: admin });
        expect([200, 404]).toContain(read.status);
      }
    }
  }, 120_000);
});
