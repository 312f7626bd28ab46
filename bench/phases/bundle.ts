import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { type BuiltFunction, bundleRoute } from "../../lib/bundle.ts";
import { routes } from "../../lib/routes.ts";
import type { Bench } from "../context.ts";
import { kib, type PhaseOutcome, verdict } from "../report.ts";

// Phase 1: every function bundled exactly as it is deployed (lib/bundle.ts), minified and gzipped.

const BUDGET_BYTES = 200 * 1024;

export interface BundleFigure extends BuiltFunction {
  gzipBytes: number;
}

let built: Promise<BundleFigure[]> | undefined;

/** Builds every route once per run; the cold phase imports the same files. */
export function buildAll(bench: Bench): Promise<BundleFigure[]> {
  built ??= (async () => {
    const outdir = join(bench.workdir, "bundles");
    const figures: BundleFigure[] = [];
    for (const route of routes) {
      const fn = await bundleRoute(route, outdir);
      figures.push({ ...fn, gzipBytes: gzipSync(readFileSync(fn.file)).length });
    }
    return figures;
  })();
  return built;
}

export async function bundlePhase(bench: Bench): Promise<PhaseOutcome> {
  bench.log(`bundle: building ${routes.length} functions with lib/bundle.ts`);
  const figures = await buildAll(bench);
  const rows = figures.map((f) => [f.id, kib(f.bytes), kib(f.gzipBytes), verdict(f.bytes <= BUDGET_BYTES)]);
  const heaviest = figures.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  return {
    report: {
      title: "1. Bundle size (as deployed)",
      table: { headers: ["function", "minified KiB", "gzip KiB", "≤ 200 KiB"], rows },
      notes: [`heaviest: ${heaviest.id}, ${heaviest.bytes} bytes minified, ${heaviest.gzipBytes} gzip`],
    },
    data: {
      budgetBytes: BUDGET_BYTES,
      functions: figures.map(({ id, bytes, gzipBytes }) => ({ id, bytes, gzipBytes })),
      heaviest: heaviest.id,
    },
  };
}
