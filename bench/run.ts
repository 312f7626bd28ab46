import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { Bench } from "./context.ts";
import { type Options, type PhaseName, parseOptions } from "./options.ts";
import { backlogPhase } from "./phases/backlog.ts";
import { bundlePhase } from "./phases/bundle.ts";
import { capacityPhase } from "./phases/capacity.ts";
import { coldPhase } from "./phases/cold.ts";
import { firstPhase } from "./phases/first.ts";
import { loadPhase } from "./phases/load.ts";
import { overheadPhase } from "./phases/overhead.ts";
import { peerPhase } from "./phases/peer.ts";
import { scalePhase } from "./phases/scale.ts";
import { shardsPhase } from "./phases/shards.ts";
import { markdownPhase, type PhaseOutcome } from "./report.ts";

// `npm run bench [-- --phase cold,overhead --sessions 5000 ...]`: runs the phases of the performance
// issue in one process, writes bench/results.json (phases not run keep their previous figures) and
// prints one Markdown table per phase. Timings are reported, never judged into an exit code.

const phases: Record<PhaseName, (bench: Bench) => Promise<PhaseOutcome>> = {
  bundle: bundlePhase,
  cold: coldPhase,
  first: firstPhase,
  overhead: overheadPhase,
  capacity: capacityPhase,
  scale: scalePhase,
  backlog: backlogPhase,
  shards: shardsPhase,
  peer: peerPhase,
  load: loadPhase,
};

function machine() {
  const cpu = cpus();
  const java = spawnSync("java", ["-version"], { encoding: "utf8" });
  return {
    cpu: cpu[0]?.model.trim() ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    java: /version "([^"]+)"/.exec(java.stderr ?? "")?.[1] ?? "unknown",
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

interface Results {
  machine: ReturnType<typeof machine>;
  command: string;
  phases: Record<string, { startedAt: string; seconds: number; options: Options } & Record<string, unknown>>;
}

const options = parseOptions(process.argv.slice(2));
const workdir = mkdtempSync(join(tmpdir(), "sessions-bench-"));
const bench = new Bench(options, workdir);
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    bench.log(`${signal}: stopping DynamoDB Local and child processes`);
    void bench.stop().finally(() => {
      rmSync(workdir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

const info = machine();
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
bench.log(
  `machine: ${info.cpu}, ${info.cores} cores, Node ${info.node}, load average ${info.loadAverageAtStart.join(" ")}`,
);
bench.log(`phases: ${options.phases.join(", ")}`);

const outcomes: [PhaseName, PhaseOutcome][] = [];
const failures: string[] = [];
const results: Results = { machine: info, command, phases: {} };
try {
  results.phases = (JSON.parse(readFileSync(options.out, "utf8")) as Results).phases ?? {};
} catch {}

try {
  for (const name of options.phases) {
    const startedAt = new Date();
    bench.log(`== phase ${name}`);
    try {
      const outcome = await phases[name](bench);
      const seconds = (Date.now() - startedAt.getTime()) / 1000;
      outcomes.push([name, outcome]);
      results.phases[name] = {
        startedAt: startedAt.toISOString(),
        seconds,
        options,
        machine: info,
        ...outcome.data,
      };
      bench.log(`== phase ${name} done in ${seconds.toFixed(0)} s`);
    } catch (error) {
      if (interrupted) break;
      failures.push(name);
      bench.log(`== phase ${name} FAILED: ${(error as Error).stack ?? error}`);
    }
    writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  }
} finally {
  await bench.stop();
  rmSync(workdir, { recursive: true, force: true });
}

console.log(`## Benchmark results\n`);
console.log(
  `\`${command}\` on ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, ${info.os}, Node ${info.node}, Java ${info.java}, load average at start ${info.loadAverageAtStart.join(" ")}\n`,
);
for (const [, outcome] of outcomes) console.log(markdownPhase(outcome.report));
bench.log(`results written to ${options.out}`);
if (failures.length) {
  bench.log(`failed phases: ${failures.join(", ")}`);
  process.exitCode = 1;
}
