import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../lib/bundle.ts";
import { adminToken, api, baseUrl, uniqueUser, userToken } from "../support/api.ts";
import { TEST_SECRET } from "../support/global-setup.ts";
import { spec } from "../support/openapi.ts";

// `npx sessions`, spawned as an operator runs it, against the local runner.

const dataDir = mkdtempSync(join(tmpdir(), "sessions-cli-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const env = (extra: Record<string, string> = {}) => ({
  ...process.env,
  SESSIONS_URL: "",
  SESSIONS_TOKEN: "",
  JWT_SECRET: "",
  LOCAL_DATA_DIR: dataDir,
  npm_config_update_notifier: "false",
  ...extra,
});

/** Through npx, as documented: the package's own `bin`, run by the project's Node 24. */
const npx = (args: string[], extra: Record<string, string> = {}) =>
  spawnSync("npx", ["sessions", ...args], { cwd: projectRoot, encoding: "utf8", env: env(extra) });

/** The same program without npx's start-up, for the many calls below. */
const cli = (args: string[], extra: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["bin/sessions.ts", ...args], {
    cwd: projectRoot,
    encoding: "utf8",
    env: env(extra),
  });

const asAdmin = async () => ({ SESSIONS_URL: baseUrl(), SESSIONS_TOKEN: await adminToken("cli-tests") });
const COMMANDS = ["list", "get", "revoke", "revoke-user", "introspect", "create", "token"];

function expectUsageError(result: ReturnType<typeof cli>, mention: string) {
  expect(result.status, result.stderr).toBe(2);
  expect(result.stderr).toContain(mention);
  expect(result.stderr).toContain("usage: npx sessions");
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stdout).toBe("");
}

describe("npx sessions: usage", () => {
  it("--help lists every command and the common options, and exits 0", () => {
    const help = npx(["--help"]);
    expect(help.status, help.stderr).toBe(0);
    for (const command of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    for (const option of ["--url", "--token", "--json", "SESSIONS_TOKEN"])
      expect(help.stdout).toContain(option);
  });

  it("<command> --help describes that command", () => {
    for (const command of COMMANDS) {
      const help = cli([command, "--help"]);
      expect(help.status, command).toBe(0);
      expect(help.stdout, command).toContain(`usage: npx sessions ${command} `);
    }
    expect(cli(["list", "--help"]).stdout).toContain("--user <user id>");
  });

  it("prints the usage and exits 2 for an unknown command, an unknown option or a missing argument", () => {
    expectUsageError(npx(["frobnicate"]), 'unknown command "frobnicate"');
    expectUsageError(cli([]), "no command given");
    expectUsageError(cli(["list", "--frob"]), "--frob");
    expectUsageError(cli(["--frob", "list"]), "--frob");
    expectUsageError(cli(["get"]), "get needs <session id>");
    expectUsageError(cli(["get", "a", "b"]), 'got "a b"');
    expectUsageError(cli(["list", "extra"]), "list takes no argument");
    expectUsageError(cli(["create"]), "create needs --user");
    expectUsageError(cli(["token", "--admin"]), "token needs --sub");
    expectUsageError(cli(["token", "--sub", "a", "--ttl", "soon"]), "--ttl");
    expectUsageError(cli(["list", "--limit", "ten"]), "--limit");
    expectUsageError(cli(["list", "--url", "localhost:8000"]), "--url must be");
    expectUsageError(cli(["list", "--json=yes"]), "--json");
  });
});

describe("npx sessions: commands against the API", () => {
  it("create, list (table and --json), get, revoke", async () => {
    const admin = await asAdmin();
    const user = uniqueUser("cli");
    const created = cli(["create", "--user", user, "--json"], admin);
    expect(created.status, created.stderr).toBe(0);
    const session = JSON.parse(created.stdout);
    expect(session).toMatchObject({ user_id: user, is_active: true });

    const table = cli(["list", "--user", user], admin);
    expect(table.status, table.stderr).toBe(0);
    const [header, row, ...rest] = table.stdout.trim().split("\n");
    expect(header).toMatch(/^ID\s+USER\s+ACTIVE\s+CREATED\s+EXPIRES/);
    expect(row).toMatch(new RegExp(`^${session.id}\\s+${user}\\s+yes\\s+${session.created_at}`));
    expect(rest).toEqual([]);

    const json = cli(["list", "--user", user, "--json"], admin);
    expect(JSON.parse(json.stdout).map((s: { id: string }) => s.id)).toEqual([session.id]);
    const all = cli(["list", "--limit", "100", "--json"], admin);
    expect(JSON.parse(all.stdout).map((s: { id: string }) => s.id)).toContain(session.id);

    const got = cli(["get", session.id], admin);
    expect(got.status, got.stderr).toBe(0);
    expect(got.stdout).toMatch(new RegExp(`^user_id\\s+${user}$`, "m"));

    const revoked = cli(["revoke", session.id], admin);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(revoked.stdout.trim()).toBe(`Session deleted: ${session.id}`);
    expect((await api(`/sessions/${session.id}`, { token: admin.SESSIONS_TOKEN })).status).toBe(404);
  });

  it("says the next page's cursor when more sessions follow", async () => {
    const admin = await asAdmin();
    const user = uniqueUser("cli");
    for (let i = 0; i < 3; i++) cli(["create", "--user", user], admin);
    const page = cli(["list", "--user", user, "--limit", "2"], admin);
    expect(page.stdout.trim().split("\n")).toHaveLength(3);
    const cursor = /--cursor (\S+)/.exec(page.stderr)?.[1] as string;
    const next = cli(["list", "--user", user, "--limit", "2", "--cursor", cursor, "--json"], admin);
    expect(JSON.parse(next.stdout)).toHaveLength(1);
  });

  it("answers an API refusal in one line, exit 1: 404, a missing token, a user token", async () => {
    const admin = await asAdmin();
    const missing = cli(["get", "no-such-session"], admin);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toBe("sessions: 404 Session with id no-such-session not found");

    const anonymous = cli(["list"], { SESSIONS_URL: baseUrl() });
    expect(anonymous.status).toBe(1);
    expect(anonymous.stderr).toContain("sessions: 401 ");
    expect(anonymous.stderr).toContain("SESSIONS_TOKEN");
    expect(anonymous.stderr.trim().split("\n")).toHaveLength(1);

    const user = cli(["list", "--token", await userToken("cli-user")], { SESSIONS_URL: baseUrl() });
    expect(user.status).toBe(1);
    expect(user.stderr).toContain("sessions: 403 ");
  });

  it("names the fix when the API cannot be reached", async () => {
    const port = new URL(baseUrl()).port;
    const down = cli(["list", "--url", `http://127.0.0.1:${Number(port) === 1 ? 2 : 1}`]);
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(
      /^sessions: cannot reach the API at http:\/\/127\.0\.0\.1:\d+ \(.+\): start it with `npm start`, or pass --url\n$/,
    );
  });

  it("token mints a dev JWT with the local key that the API accepts", async () => {
    const minted = cli(["token", "--sub", "cli-ops", "--admin", "--ttl", "60"], { JWT_SECRET: TEST_SECRET });
    expect(minted.status, minted.stderr).toBe(0);
    const token = minted.stdout.trim();
    expect((await api("/sessions?limit=1", { token })).status).toBe(200);
    const plain = cli(["token", "--sub", "cli-user"], { JWT_SECRET: TEST_SECRET }).stdout.trim();
    expect((await api("/sessions?limit=1", { token: plain })).status).toBe(403);
    expect((await api("/api/sessions", { token: plain })).status).toBe(200);
  });

  it("revoke-user deletes every session of a user (contract section 8)", async (context) => {
    context.skip(
      !spec.paths["/sessions/user/{user_id}"]?.delete,
      "DELETE /sessions/user/{user_id} is not in openapi.yaml on this branch",
    );
    const admin = await asAdmin();
    const user = uniqueUser("cli");
    cli(["create", "--user", user], admin);
    cli(["create", "--user", user], admin);
    const done = cli(["revoke-user", user], admin);
    expect(done.status, done.stderr).toBe(0);
    expect(done.stdout.trim()).toBe(`Sessions deleted: 2 of user ${user}`);
    expect(JSON.parse(cli(["list", "--user", user, "--json"], admin).stdout)).toEqual([]);
  });

  it("introspect tells whether a credential is active (contract section 8)", async (context) => {
    context.skip(
      !spec.paths["/sessions/introspect"]?.post,
      "POST /sessions/introspect is not in openapi.yaml on this branch",
    );
    const admin = await asAdmin();
    const session = JSON.parse(cli(["create", "--user", uniqueUser("cli"), "--json"], admin).stdout);
    const active = JSON.parse(cli(["introspect", session.access_token, "--json"], admin).stdout);
    expect(active).toMatchObject({
      active: true,
      sub: session.user_id,
      sid: session.id,
      token_type: "Bearer",
    });
    cli(["revoke", session.id], admin);
    expect(JSON.parse(cli(["introspect", session.access_token, "--json"], admin).stdout)).toEqual({
      active: false,
    });
  });
});
