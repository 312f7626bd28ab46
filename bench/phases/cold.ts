import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { type Bench, functionEnv } from "../context.ts";
import { ms, type PhaseOutcome, ratio, verdict } from "../report.ts";
import { median } from "../stats.ts";
import { buildAll, referenceLabel } from "./bundle.ts";

// Phase 2: fresh Node processes that import one function's bundle and exit, interleaved with bare
// `node -e 0`, so both sides see the same machine load. Each process gets only the environment a
// function has on Lambda (no DYNAMODB_ENDPOINT): importing must not need, or open, a connection.

const TARGET_RATIO = 1.4;
/** Issue 14: every request-path function within 1.1× the floor (reference RefLeanHandler). */
const FLOOR_RATIO = 1.1;
const FLOOR = "RefLeanHandler";

// Loaded before the bundle in a separate check run: reports any socket the import opens.
const CONNECT_GUARD = `data:text/javascript,${encodeURIComponent(
  `import net from "node:net";
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  process.stderr.write("bench-guard: connect " + JSON.stringify(args[0]) + "\\n");
  return connect.apply(this, args);
};`,
)}`;

function run(args: string[]): number {
  const env = { ...functionEnv, PATH: process.env.PATH ?? "" };
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  const elapsed = performance.now() - start;
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} failed: ${result.stderr}`);
  return elapsed;
}

export async function coldPhase(bench: Bench): Promise<PhaseOutcome> {
  const { functions, references } = await buildAll(bench);
  const bundles = [...functions, ...references];
  const runs = bench.options.coldRuns;

  bench.log("cold: checking that no bundle opens a connection at import");
  for (const fn of bundles) {
    const url = pathToFileURL(fn.file).href;
    const check = spawnSync(
      process.execPath,
      [
        "--import",
        CONNECT_GUARD,
        "--input-type=module",
        "-e",
        `await import(${JSON.stringify(url)}); await new Promise((r) => setTimeout(r, 300));`,
      ],
      { env: { ...functionEnv, PATH: process.env.PATH ?? "" }, encoding: "utf8" },
    );
    if (check.status !== 0) throw new Error(`${fn.id} failed to import: ${check.stderr}`);
    if (check.stderr.includes("bench-guard:"))
      throw new Error(`${fn.id} connects at import: ${check.stderr}`);
  }

  const bare: number[] = [];
  const samples = new Map<string, number[]>(bundles.map((b) => [b.id, []]));
  for (const args of [["-e", "0"], [bundles[0]!.file]]) run(args); // page cache and disk warm
  for (let round = 0; round < runs; round++) {
    bench.log(
      `cold: round ${round + 1}/${runs} (${functions.length} functions and ${references.length} references, each after a bare node -e 0)`,
    );
    for (const fn of bundles) {
      bare.push(run(["-e", "0"]));
      samples.get(fn.id)!.push(run([fn.file]));
    }
  }

  const bareMedian = median(bare);
  // The floor of the issue's target: the prescribed libraries alone (middy, jose, a DocumentClient).
  const floorMedian = median(samples.get(FLOOR) ?? []);
  const figures = bundles.map((fn) => {
    const m = median(samples.get(fn.id)!);
    return {
      id: fn.id,
      bytes: fn.bytes,
      medianMs: m,
      ratio: m / bareMedian,
      floorRatio: m / floorMedian,
      samples: samples.get(fn.id)!,
    };
  });
  const own = figures.filter((f) => !referenceLabel(f.id));
  const heaviest = functions.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const heaviestFigure = figures.find((f) => f.id === heaviest.id)!;
  const slowest = own.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  return {
    report: {
      title: "2. Cold init (fresh process importing the bundle vs bare `node -e 0`)",
      table: {
        headers: [
          "function",
          "median ms",
          "bare node median ms",
          "ratio",
          "≤ 1.4",
          "× floor",
          "≤ 1.1× floor",
        ],
        rows: figures.map((f) => [
          referenceLabel(f.id) ?? f.id,
          ms(f.medianMs),
          ms(bareMedian),
          ratio(f.ratio),
          referenceLabel(f.id) ? "—" : verdict(f.ratio <= TARGET_RATIO),
          ratio(f.floorRatio),
          referenceLabel(f.id) ? "—" : verdict(f.floorRatio <= FLOOR_RATIO),
        ]),
      },
      notes: [
        `${runs} processes per function and ${bare.length} bare starts, interleaved; Node ${process.version}`,
        `heaviest bundle ${heaviest.id}: ratio ${ratio(heaviestFigure.ratio)}, ${ratio(heaviestFigure.floorRatio)}× the floor; highest ratio ${slowest.id}: ${ratio(slowest.ratio)}`,
        "× floor: the median process against the median process of the floor, reference RefLeanHandler (middy + jose + DocumentClient, the floor issue 14 names)",
        "references (bench/reference/) are not functions of the service: the prescribed libraries alone, built and started the same way",
      ],
    },
    data: {
      runsPerFunction: runs,
      bare: { medianMs: bareMedian, samples: bare },
      functions: own,
      references: figures.filter((f) => referenceLabel(f.id)),
      heaviest: {
        id: heaviest.id,
        ratio: heaviestFigure.ratio,
        target: TARGET_RATIO,
        floorRatio: heaviestFigure.floorRatio,
        floorTarget: FLOOR_RATIO,
      },
    },
  };
}
