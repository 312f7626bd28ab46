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

/**
 * Not functions of the service: what the prescribed libraries weigh on their own, built with the same
 * settings, so a reader can tell the service's own cost from theirs. They are reported beside the
 * functions and never counted in a verdict.
 */
export const references = [
  {
    id: "RefDocumentClient",
    entry: "bench/reference/document-client.ts",
    label: "DynamoDB DocumentClient alone",
  },
  { id: "RefLeanHandler", entry: "bench/reference/lean-handler.ts", label: "middy + jose + DocumentClient" },
  {
    id: "RefLeanRequest",
    entry: "bench/reference/lean-request.ts",
    label: "the same, its key read from Secrets Manager (floor of phase first)",
  },
] as const;

export const referenceLabel = (id: string) => {
  const reference = references.find((r) => r.id === id);
  return reference ? `reference: ${reference.label}` : undefined;
};

let built: Promise<{ functions: BundleFigure[]; references: BundleFigure[] }> | undefined;

/** Builds every route and the references once per run; the cold phase imports the same files. */
export function buildAll(bench: Bench): Promise<{ functions: BundleFigure[]; references: BundleFigure[] }> {
  built ??= (async () => {
    const outdir = join(bench.workdir, "bundles");
    const build = async (entry: { id: string; entry: string }) => {
      const fn = await bundleRoute(entry, outdir);
      return { ...fn, gzipBytes: gzipSync(readFileSync(fn.file)).length };
    };
    const functions: BundleFigure[] = [];
    for (const route of routes) functions.push(await build(route));
    const built: BundleFigure[] = [];
    for (const reference of references) built.push(await build(reference));
    return { functions, references: built };
  })();
  return built;
}

export async function bundlePhase(bench: Bench): Promise<PhaseOutcome> {
  bench.log(
    `bundle: building ${routes.length} functions and ${references.length} references with lib/bundle.ts`,
  );
  const { functions: figures, references: refs } = await buildAll(bench);
  const rows = [
    ...figures.map((f) => [f.id, kib(f.bytes), kib(f.gzipBytes), verdict(f.bytes <= BUDGET_BYTES)]),
    ...refs.map((f) => [referenceLabel(f.id) ?? f.id, kib(f.bytes), kib(f.gzipBytes), "—"]),
  ];
  const heaviest = figures.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  return {
    report: {
      title: "1. Bundle size (as deployed)",
      table: { headers: ["function", "minified KiB", "gzip KiB", "≤ 200 KiB"], rows },
      notes: [
        `heaviest: ${heaviest.id}, ${heaviest.bytes} bytes minified, ${heaviest.gzipBytes} gzip`,
        "references (bench/reference/) are not functions of the service: the prescribed libraries alone, built the same way",
      ],
    },
    data: {
      budgetBytes: BUDGET_BYTES,
      functions: figures.map(({ id, bytes, gzipBytes }) => ({ id, bytes, gzipBytes })),
      references: refs.map(({ id, bytes, gzipBytes }) => ({ id, bytes, gzipBytes })),
      heaviest: heaviest.id,
    },
  };
}
