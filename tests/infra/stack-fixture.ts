import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import { projectRoot } from "../../lib/bundle.ts";
import { SessionsStack, settingsFromContext } from "../../lib/sessions-stack.ts";

/** The feature flags `cdk synth` applies, so the tests see the template the CLI produces. */
const cdkJsonContext = (
  JSON.parse(readFileSync(join(projectRoot, "cdk.json"), "utf8")) as {
    context: Record<string, unknown>;
  }
).context;

const outdirs: string[] = [];

/**
 * A folder for one App's assembly. Without an `outdir` CDK makes `cdk.outXXXXXX` in the temp folder
 * and never removes it; a test file calls `removeSynthOutput` after its tests.
 */
export function synthOutdir(): string {
  const dir = mkdtempSync(join(tmpdir(), "sessions-synth-"));
  outdirs.push(dir);
  return dir;
}

export function removeSynthOutput(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * Synthesizes the stack the way bin/app.ts does, from context values. Bundling is skipped (the
 * template does not depend on the bundle's bytes); tests/infra/synth.test.ts covers the real one.
 */
export function synthStack(
  context: Record<string, string> = {},
  options: { bundle?: boolean; extend?: (stack: SessionsStack) => void } = {},
) {
  const app = new App({
    outdir: synthOutdir(),
    context: { ...cdkJsonContext, ...(options.bundle ? {} : { "aws:cdk:bundling-stacks": [] }), ...context },
  });
  const settings = settingsFromContext(app.node);
  const stack = new SessionsStack(app, `Sessions-${settings.stage}`, { settings });
  options.extend?.(stack);
  return { app, stack, template: Template.fromStack(stack), settings };
}

export function logicalIdOf(stack: SessionsStack, routeId: string): string {
  const fn = stack.functions.get(routeId);
  if (!fn) throw new Error(`no function for ${routeId}`);
  return Stack.of(fn).getLogicalId(fn.node.defaultChild as CfnFunction);
}

export type Resources = Record<string, { Type: string; Properties?: any; DeletionPolicy?: string }>;

export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}
