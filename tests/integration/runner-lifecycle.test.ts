import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { type NetworkInterfaceInfo, networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../lib/dynamodb-local.ts";
import { startRunner } from "../support/runner.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
/** A data folder for one run, removed after this file's tests. */
function temporaryDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Whether a TCP connection to `host:port` is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 5_000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

/** As a user runs it: no DYNAMODB_ENDPOINT (so it starts its own DynamoDB Local), no JWT_SECRET. */
const asUser = { DYNAMODB_ENDPOINT: "", JWT_SECRET: "" };

// `npm start` as a user runs it: its own DynamoDB Local on a data folder, a generated dev secret,
// a clean stop on SIGTERM, the data still there after a restart, and a clear word when Java is missing.

function javaProcessesUsing(dir: string): number[] {
  try {
    return execFileSync("pgrep", ["-f", dir], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

describe("npm start", () => {
  it("keeps data across restarts, stops cleanly on SIGTERM and leaves no Java process", async () => {
    const dataDir = temporaryDir("sessions-runner-");
    const port = await freePort();
    const url = `http://localhost:${port}`;

    const first = await startRunner(asUser, { dataDir, port });
    expect(first.logs()).toContain(`Sessions API listening on ${url}`);
    expect(first.logs()).toContain("npm run token -- --sub alice");
    const [javaPid] = javaProcessesUsing(dataDir);
    expect(javaPid).toBeDefined();
    expect(readFileSync(`/proc/${javaPid}/environ`, "utf8").split("\0")).toContain("DDB_LOCAL_TELEMETRY=0");
    // Started through the loopback launcher, with an allow-list of CORS origins that no browser sends
    // (DynamoDB Local's default is `*`).
    const command = readFileSync(`/proc/${javaPid}/cmdline`, "utf8").split("\0");
    expect(command).toContain("LoopbackDynamoDbLocal");
    expect(command.slice(command.indexOf("-cors"), command.indexOf("-cors") + 2)).toEqual(["-cors", "none"]);

    const secret = readFileSync(join(dataDir, "jwt-secret"), "utf8").trim();
    const now = Math.floor(Date.now() / 1000);
    const admin = await new SignJWT({ scope: "sessions:admin" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("ops")
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(new TextEncoder().encode(secret));
    const headers = { authorization: `Bearer ${admin}` };
    const created = await fetch(`${url}/sessions/user/restart-user`, { method: "POST", headers });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    // Exit status 0: a clean stop. Past its 5 s budget the runner exits 1 (or is killed), so no
    // wall-clock check is needed, and none would hold on a busy machine.
    expect(await first.stop()).toBe(0);
    expect(javaProcessesUsing(dataDir)).toEqual([]);

    const second = await startRunner(asUser, { dataDir, port });
    try {
      expect(second.logs()).toContain('table "sessions" found');
      const read = await fetch(`${url}/sessions/${id}`, { headers });
      expect(read.status).toBe(200);
      expect(((await read.json()) as { user_id: string }).user_id).toBe("restart-user");
    } finally {
      await second.stop();
    }
    expect(javaProcessesUsing(dataDir)).toEqual([]);
  }, 240_000); // two runners, each starting its own DynamoDB Local

  it("says in one line what to install when Java is missing, and exits non-zero", () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: "/nonexistent", PORT: "0" };
    delete env.DYNAMODB_ENDPOINT;
    let status = 0;
    let stderr = "";
    try {
      execFileSync(process.execPath, ["bin/local.ts"], {
        env: { ...env, LOCAL_DATA_DIR: temporaryDir("sessions-nojava-") },
        encoding: "utf8",
        stdio: "pipe",
      });
    } catch (error) {
      status = (error as { status: number }).status;
      stderr = (error as { stderr: string }).stderr;
    }
    expect(status).toBe(1);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("DynamoDB Local needs Java 17 or newer");
  });

  it("starts DynamoDB Local on loopback only, without CORS", async () => {
    // The shared DynamoDB Local of the integration tests is started as `npm start` starts its own.
    const { port } = new URL(inject("dynamoEndpoint"));
    expect(await connects("127.0.0.1", Number(port))).toBe(true);
    const others = Object.values(networkInterfaces())
      .flat()
      .filter(
        (address) => address !== undefined && !address.internal && !address.address.startsWith("fe80:"),
      );
    for (const { address } of others as NetworkInterfaceInfo[]) {
      expect(await connects(address, Number(port)), `${address}:${port}`).toBe(false);
    }
    // A browser origin is granted nothing. (DynamoDB Local 3.3.1 grants only origins listed exactly,
    // `*` included as a literal; the allow-list is set anyway: see the first test.)
    const preflight = await fetch(inject("dynamoEndpoint"), {
      method: "OPTIONS",
      headers: {
        origin: "https://some-site.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-amz-target,authorization",
      },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
  }, 180_000);

  it.each([
    [{}, "JWKS_URL is set without JWT_ISSUER and JWT_AUDIENCE"],
    [{ JWT_ISSUER: "https://idp.example.test/" }, "JWKS_URL is set without JWT_AUDIENCE"],
    [{ JWT_AUDIENCE: "sessions-api" }, "JWKS_URL is set without JWT_ISSUER"],
  ])(
    "refuses JWKS_URL with %j in one line naming what is missing, before starting anything",
    (extra, message) => {
      const dataDir = temporaryDir("sessions-jwks-");
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PORT: "0",
        LOCAL_DATA_DIR: dataDir,
        JWKS_URL: "https://idp.example.test/.well-known/jwks.json",
        JWT_ISSUER: "",
        JWT_AUDIENCE: "",
        ...extra,
      };
      delete env.DYNAMODB_ENDPOINT;
      const run = spawnSync(process.execPath, ["bin/local.ts"], { env, encoding: "utf8", timeout: 60_000 });
      expect(run.status, run.stderr).toBe(1);
      expect(run.stderr.trim().split("\n")).toEqual([expect.stringContaining(message)]);
      expect(run.stderr).not.toMatch(/\bat .+:\d+/);
      expect(run.stdout).toBe("");
      // Nothing was started or written: no DynamoDB Local folder, no generated secret.
      expect(readdirSync(dataDir)).toEqual([]);
    },
  );
});
