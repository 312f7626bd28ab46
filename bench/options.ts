import { parseCommandLine, usageExit } from "../lib/command-line.ts";

export const PHASES = [
  "bundle",
  "cold",
  "first",
  "overhead",
  "capacity",
  "scale",
  "backlog",
  "shards",
  "peer",
  "load",
] as const;
export type PhaseName = (typeof PHASES)[number];

export interface Options {
  phases: PhaseName[];
  /** Sessions seeded for the scale phase, and the size of the small table it is compared with. */
  sessions: number;
  smallSessions: number;
  sessionsPerUser: number;
  /** Fresh processes per function (and as many bare Node starts) in the cold phase. */
  coldRuns: number;
  /** Timed calls per route and per side in the overhead and peer phases. */
  iterations: number;
  /** Timed calls per operation and table size in the scale phase. */
  scaleIterations: number;
  /** Seconds and connections of each autocannon run. */
  duration: number;
  connections: number;
  out: string;
  /** Phase `first` also writes a CPU profile of one run per bundle here (node --cpu-prof). */
  profile: string | undefined;
}

const USAGE = `npm run bench -- [options]
  --phase <list>          comma-separated subset of ${PHASES.join(",")} (default: all)
  --sessions <n>          sessions seeded for the scale phase (default 100000)
  --small-sessions <n>    the small table it is compared with (default 1000)
  --sessions-per-user <n> sessions per user when seeding (default 10)
  --cold-runs <n>         processes per function in the cold phase, at least 20 (default 25)
  --iterations <n>        timed calls per route in the overhead and peer phases (default 400)
  --scale-iterations <n>  timed calls per operation and size in the scale phase (default 200)
  --duration <s>          seconds per autocannon run (default 20)
  --connections <n>       autocannon connections (default 50)
  --out <file>            results file (default bench/results.json)
  --profile <dir>         phase first: also write a CPU profile of one run per bundle to <dir>`;

export function parseOptions(argv: string[]): Options {
  const { values } = parseCommandLine(
    {
      args: argv,
      options: {
        phase: { type: "string" },
        sessions: { type: "string" },
        "small-sessions": { type: "string" },
        "sessions-per-user": { type: "string" },
        "cold-runs": { type: "string" },
        iterations: { type: "string" },
        "scale-iterations": { type: "string" },
        duration: { type: "string" },
        connections: { type: "string" },
        out: { type: "string" },
        profile: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    },
    USAGE,
  );
  const phases = values.phase
    ? values.phase.split(",").map((p) => {
        const name = p.trim();
        if (!(PHASES as readonly string[]).includes(name)) usage(`unknown phase "${name}"`);
        return name as PhaseName;
      })
    : [...PHASES];
  const int = (raw: string | undefined, name: string, fallback: number, min: number) => {
    if (raw === undefined) return fallback;
    const value = Number(raw.replaceAll("_", ""));
    if (!Number.isSafeInteger(value) || value < min) usage(`--${name} must be an integer >= ${min}`);
    return value;
  };
  return {
    phases: PHASES.filter((p) => phases.includes(p)),
    sessions: int(values.sessions, "sessions", 100_000, 10),
    smallSessions: int(values["small-sessions"], "small-sessions", 1_000, 10),
    sessionsPerUser: int(values["sessions-per-user"], "sessions-per-user", 10, 1),
    coldRuns: int(values["cold-runs"], "cold-runs", 25, 20),
    iterations: int(values.iterations, "iterations", 400, 10),
    scaleIterations: int(values["scale-iterations"], "scale-iterations", 200, 10),
    duration: int(values.duration, "duration", 20, 1),
    connections: int(values.connections, "connections", 50, 1),
    out: values.out ?? "bench/results.json",
    profile: values.profile,
  };
}

function usage(message: string): never {
  return usageExit(message, USAGE);
}
