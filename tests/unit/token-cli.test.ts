import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { jwtVerify } from "jose";
import { describe, expect, it } from "vitest";

// `npm run token`: a dev JWT signed with the local secret (JWT_SECRET here, from the unit setup).

const script = join(import.meta.dirname, "..", "..", "bin", "token.ts");
const run = (...args: string[]) =>
  spawnSync(process.execPath, [script, ...args], { encoding: "utf8", env: { ...process.env } });
const USAGE = "usage: npm run token -- --sub <user id>";

// Each case spawns Node processes: seconds apiece on a busy machine, far past the 5 s default.
describe("npm run token", { timeout: 60_000 }, () => {
  it("prints an admin token signed with the local secret", async () => {
    const result = run("--sub", "ops", "--admin", "--ttl", "60");
    expect(result.status).toBe(0);
    const secret = new TextEncoder().encode(process.env.JWT_SECRET);
    const { payload } = await jwtVerify(result.stdout.trim(), secret, { algorithms: ["HS256"] });
    expect(payload).toMatchObject({ sub: "ops", scope: "sessions:admin" });
    expect((payload.exp as number) - (payload.iat as number)).toBe(60);
  });

  it("prints its usage for --help, and exits 2 with the usage for an unknown option or no --sub", () => {
    const help = run("--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toContain(USAGE);
    for (const args of [["--nope"], [], ["--sub", "a", "--ttl", "soon"]]) {
      const result = run(...args);
      expect(result.status, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).not.toContain("    at ");
      if (args[0] === "--nope") expect(result.stderr).toContain(USAGE);
    }
  });
});
