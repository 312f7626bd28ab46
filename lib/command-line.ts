import { type ParseArgsConfig, parseArgs } from "node:util";

// What the project's commands (npm start, npm run invoke, npm run bench) share when a newcomer gets
// them wrong: one line naming the fix and the usage on stderr, exit status 2, never a stack trace.

/** Prints `message` and `usage` to stderr and exits 2. */
export function usageExit(message: string, usage: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/** `parseArgs`, with `--help` printing the usage (exit 0) and a mistake answered by `usageExit`. */
export function parseCommandLine<T extends ParseArgsConfig>(
  config: T,
  usage: string,
): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    return usageExit((error as Error).message, usage);
  }
  if ((parsed.values as Record<string, unknown>).help === true) {
    console.log(usage);
    process.exit(0);
  }
  return parsed;
}

/** `PORT` (or `fallback` when unset): a whole number from 0 (any free port) to 65535. */
export function portSetting(raw: string | undefined, fallback: number, usage: string): number {
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65_535) {
    return usageExit(
      `PORT must be a whole number from 0 to 65535, got "${raw}": e.g. PORT=8001 npm start`,
      usage,
    );
  }
  return port;
}

/** The one line for a server that could not listen on `port`, or undefined for another failure. */
export function listenProblem(error: unknown, port: number): string | undefined {
  const code = (error as { code?: unknown })?.code;
  const other = port > 0 && port < 65_535 ? port + 1 : 8001;
  if (code === "EADDRINUSE") {
    return `Port ${port} is in use (another npm start?): stop that process, or start on another port with PORT=${other} npm start`;
  }
  if (code === "EACCES") {
    return `Port ${port} needs privileges this user lacks: start on a port above 1023, e.g. PORT=${other} npm start`;
  }
  return undefined;
}
