import type { Bench } from "../context.ts";
import type { PhaseOutcome } from "../report.ts";
export async function scalePhase(_bench: Bench): Promise<PhaseOutcome> {
  throw new Error("todo");
}
