import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import cdkNag from "cdk-nag";
import type { IConstruct } from "constructs";
import { afterAll, describe, expect, it } from "vitest";
import { EndpointFunction } from "../../lib/endpoint-function.ts";
import { type Route, routes } from "../../lib/routes.ts";
import { SessionsStack, settingsFromContext } from "../../lib/sessions-stack.ts";

const { AwsSolutionsChecks } = cdkNag;

interface Violation {
  ruleName: string;
  severity: string;
  violatingConstructs?: { constructPath: string }[];
}

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** Synthesizes with the AwsSolutions pack and returns every finding it left unacknowledged. */
function nagFindings(build: (app: App) => Stack): Violation[] {
  const outdir = mkdtempSync(join(tmpdir(), "sessions-nag-"));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { "aws:cdk:bundling-stacks": [] } });
  build(app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  try {
    app.synth();
  } catch (error) {
    // Unacknowledged errors interrupt synthesis after the report is written; warnings do not.
    if (!String(error).includes("validation-report.json")) throw error;
  }
  const report = JSON.parse(readFileSync(join(outdir, "validation-report.json"), "utf8")) as {
    pluginReports: { pluginName: string; violations: Violation[] }[];
  };
  return report.pluginReports.filter((r) => r.pluginName === "AwsSolutions").flatMap((r) => r.violations);
}

const sessionsStack = (stage: string, eventsWebhookUrl?: string) => (app: App) => {
  app.node.setContext("stage", stage);
  if (eventsWebhookUrl) app.node.setContext("eventsWebhookUrl", eventsWebhookUrl);
  return new SessionsStack(app, `Sessions-${stage}`, { settings: settingsFromContext(app.node) });
};

describe("cdk-nag AwsSolutions", () => {
  it("reports a wildcard policy through this very harness (the check is live)", () => {
    const findings = nagFindings((app) => {
      const stack = new Stack(app, "Control");
      new Role(stack, "Wide", { assumedBy: new ServicePrincipal("lambda.amazonaws.com") }).addToPolicy(
        new PolicyStatement({ actions: ["dynamodb:*"], resources: ["*"] }),
      );
      return stack;
    });
    expect(findings.map((f) => f.ruleName)).toContain("AwsSolutions-IAM5[Resource::*]");
  });

  it("still reports a wildcard in a function's own policy: X-Ray's acknowledgement covers its policy alone", () => {
    const findings = nagFindings((app) => {
      const stack = new Stack(app, "Control");
      const fn = new EndpointFunction(stack, "Traced", {
        entry: "functions/health.ts",
        logRetention: RetentionDays.ONE_DAY,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      fn.addToRolePolicy(new PolicyStatement({ actions: ["dynamodb:GetItem"], resources: ["*"] }));
      return stack;
    });
    expect(findings.map((f) => `${f.ruleName} ${f.violatingConstructs?.[0]?.constructPath}`)).toEqual([
      "AwsSolutions-IAM5[Resource::*] Control/TracedRole/DefaultPolicy/Resource",
    ]);
  });

  for (const [stage, webhook] of [
    ["dev", undefined],
    ["prod", undefined],
    ["dev", "https://hooks.example.com/sessions"],
  ] as const) {
    it(`leaves no error and no warning unacknowledged on the ${stage} stack${webhook ? " with the webhook target" : ""}`, () => {
      const findings = nagFindings(sessionsStack(stage, webhook));
      expect(
        findings.map((f) => `${f.severity} ${f.ruleName} ${f.violatingConstructs?.[0]?.constructPath}`),
      ).toEqual([]);
    });
  }

  it("acknowledges only APIG4 on each route, SMG4 on the secrets, X-Ray's wildcard, the alarm topic's encryption and SQS3 on the events DLQ, each with a reason", () => {
    const outdir = mkdtempSync(join(tmpdir(), "sessions-nag-"));
    outdirs.push(outdir);
    const app = new App({ outdir, context: { "aws:cdk:bundling-stacks": [] } });
    const stack = sessionsStack("dev", "https://hooks.example.com/sessions")(app);
    const acknowledged: string[] = [];
    const visit = (node: IConstruct) => {
      for (const entry of node.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, value] of Object.entries(entry.data as Record<string, unknown>)) {
          const reason = typeof value === "string" ? value : (value as { reason?: string })?.reason;
          expect(reason?.length ?? 0, `${node.node.path} ${id}`).toBeGreaterThan(40);
          acknowledged.push(
            `${node.node.path.replace(`${stack.node.id}/`, "")} ${id.replace(/^annotation::/i, "")}`,
          );
        }
      }
      for (const child of node.node.children) visit(child);
    };
    visit(stack);
    const expected = [
      "JwtSecret AwsSolutions-SMG4",
      "Events/DeadLetters AwsSolutions-SQS3",
      "Events/WebhookSecret AwsSolutions-SMG4",
      "TracingPolicy AwsSolutions-IAM5[Resource::*]",
      "Monitoring/AlarmTopic AwsSolutions-SNS2",
      ...(routes as readonly Route[]).map((r) => `${r.id}Route AwsSolutions-APIG4`),
    ];
    expect(acknowledged.sort()).toEqual(expected.sort());
  });
});
