import { App, Validations } from "aws-cdk-lib";
import cdkNag from "cdk-nag";
import { SessionsStack, settingsFromContext } from "../lib/sessions-stack.ts";

const { AwsSolutionsChecks } = cdkNag;

// `npx cdk synth|deploy [-c stage=prod] [-c key=value …]`: one stack per stage (see docs/deploy.md).

const app = new App();
const settings = settingsFromContext(app.node);
new SessionsStack(app, `Sessions-${settings.stage}`, {
  settings,
  description: `Sessions service (${settings.stage}): HTTP API, one Lambda function per route, DynamoDB`,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  tags: { service: "sessions", stage: settings.stage },
});
// AwsSolutions findings fail `cdk synth` and deploy unless acknowledged with a reason in the stack.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
