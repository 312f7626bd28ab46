import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../lib/dynamodb-local.ts";
import { adminToken, api, baseUrl } from "../support/api.ts";

// `npm run smoke`: passes against the local runner (what `npm start` runs), and fails with a FAIL line
// and a non-zero exit against targets that answer wrongly, cleaning up what it created.

const script = join(import.meta.dirname, "..", "..", "bin", "smoke.ts");

function smoke(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const lastLine = (text: string) => text.trim().split("\n").at(-1) ?? "";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A stand-in API on loopback: `answer` decides every response; every request is recorded. */
async function stub(answer: (req: IncomingMessage, body: string) => [number, unknown]) {
  const seen: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""}`.trim());
      const [status, payload] = answer(req, body);
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(payload));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe("npm run smoke", () => {
  it("passes against the local runner and leaves nothing behind", async () => {
    const result = await smoke("--url", baseUrl(), "--admin-token", await adminToken());
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(lastLine(result.stdout)).toBe(`PASS smoke test: 8 checks against ${baseUrl()}/`);
    for (const check of ["health", "create", "get", "list", "deactivate", "refused", "delete", "gone"]) {
      expect(result.stdout).toMatch(new RegExp(`^ok   ${check} `, "m"));
    }
    const [, id, user] = /session (\S+) for user (\S+)/.exec(result.stdout) ?? [];
    const admin = await adminToken();
    expect((await api(`/sessions/${id}`, { token: admin })).status).toBe(404);
    expect((await api(`/sessions/user/${user}`, { token: admin })).body).toEqual([]);
  });

  it("fails when a deactivated session's token still works, and deletes the session it created", async () => {
    const session = { id: "stub-session-1", user_id: "", access_token: "stub-access-token", is_active: true };
    const target = await stub((req, body) => {
      const route = `${req.method} ${req.url}`;
      if (route === "GET /health") return [200, { status: "ok" }];
      if (route === "POST /sessions") return [201, { ...session, user_id: JSON.parse(body).userId }];
      if (route === `GET /sessions/${session.id}`) return [200, session];
      if (route === "GET /api/sessions") return [200, { success: true, data: [session] }];
      if (route === `PATCH /api/sessions/${session.id}/deactivate`) return [200, { success: true }];
      if (route === `DELETE /sessions/${session.id}`) return [200, { message: "Session deleted" }];
      return [404, { detail: "no such route" }];
    });
    const result = await smoke("--url", target.url, "--admin-token", "admin-jwt");
    expect(result.status).toBe(1);
    expect(lastLine(result.stdout)).toMatch(/^FAIL smoke test: refused: expected 401/);
    expect(result.stdout).toContain(`cleanup: deleted session ${session.id}`);
    expect(target.seen.at(-1)).toBe(`DELETE /sessions/${session.id} Bearer admin-jwt`);
  });

  it("fails on a target that answers wrongly from the start, creating nothing", async () => {
    const target = await stub(() => [200, { status: "starting" }]);
    const result = await smoke("--url", target.url, "--admin-token", "admin-jwt");
    expect(result.status).toBe(1);
    expect(lastLine(result.stdout)).toMatch(/^FAIL smoke test: health: expected 200 with \{"status":"ok"\}/);
    expect(target.seen).toEqual(["GET /health"]);
  });

  it("fails in one line when nothing answers", async () => {
    const result = await smoke("--url", `http://127.0.0.1:${await freePort()}`, "--admin-token", "t");
    expect(result.status).toBe(1);
    expect(lastLine(result.stdout)).toBe("FAIL smoke test: health: GET /health: ECONNREFUSED");
    expect(result.stderr).toBe("");
  });

  it("answers a bad option with one line and the usage, exit 2, no stack trace", async () => {
    for (const args of [
      [],
      ["--url", "http://127.0.0.1:1"],
      ["--url", "ftp://example.com", "--admin-token", "t"],
      ["--url", "not a url", "--admin-token", "t"],
      ["--url", "http://127.0.0.1:1", "--admin-token", "t", "--timeout", "0"],
      ["--bogus"],
    ]) {
      const result = await smoke(...args);
      expect(result.status, args.join(" ")).toBe(2);
      expect(result.stderr.split("\n")[1], args.join(" ")).toMatch(/^usage: npm run smoke -- --url/);
      expect(result.stderr, args.join(" ")).not.toContain("    at ");
      expect(result.stdout).toBe("");
    }
    const help = await smoke("--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run smoke/);
  });
});
