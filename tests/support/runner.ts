import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../lib/dynamodb-local.ts";

// The local runner (`node bin/local.ts`, what `npm start` runs) as a child process, for every test
// that talks HTTP to it: the shared integration runner, and private ones with their own
// configuration (JWKS, issuer, timeouts), their own DynamoDB Local or their own data folder.

export interface Runner {
  url: string;
  process: ChildProcess;
  /** Everything the runner wrote to stdout and stderr so far. */
  logs(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface RunnerOptions {
  /** The data folder (LOCAL_DATA_DIR); by default a temporary one, removed on stop. */
  dataDir?: string;
  port?: number;
  /** Also stream the runner's output to this file, for tests that read it while it runs. */
  logFile?: string;
}

/** Starts the runner with `env` over a local default environment and waits until /health answers. */
export async function startRunner(env: Record<string, string>, options: RunnerOptions = {}): Promise<Runner> {
  const dir = options.dataDir ?? mkdtempSync(join(tmpdir(), "sessions-runner-"));
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, ["bin/local.ts"], {
    env: {
      ...process.env,
      PORT: String(port),
      LOCAL_DATA_DIR: dir,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const log = options.logFile ? createWriteStream(options.logFile) : undefined;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      log?.write(chunk);
    });
  }
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  const stop = async () => {
    process.off("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    }
    log?.end();
    if (!options.dataDir) rmSync(dir, { recursive: true, force: true });
    return child.exitCode;
  };
  const url = `http://127.0.0.1:${port}`;
  // Generous: on a busy machine the runner (and its own DynamoDB Local, if any) can take a while.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`local runner exited with ${child.exitCode}:\n${output}`);
    }
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`local runner did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, process: child, logs: () => output, stop };
}
