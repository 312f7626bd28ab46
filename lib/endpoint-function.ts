import { join } from "node:path";
import { Duration, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { Policy, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Architecture, type CfnFunction, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { type ICommandHooks, LogLevel, NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { bundling, definesFor, projectRoot } from "./bundle.ts";
import { functionDefaults } from "./routes.ts";

export interface EndpointFunctionProps {
  /** The handler module, relative to the project root (a route's `entry`). */
  readonly entry: string;
  /** Files lib/docs.ts writes beside the bundle (the docs functions'). */
  readonly docsFiles?: readonly string[];
  /** Merged over the defaults below, never replacing them wholesale. */
  readonly environment?: Record<string, string>;
  readonly memoryMb?: number;
  /** Functions off the request path (the events functions) may run longer than a route. */
  readonly timeoutSeconds?: number;
  readonly logRetention: RetentionDays;
  /** Applies to the function's log group (and so follows the stage). */
  readonly removalPolicy: RemovalPolicy;
  /** Active X-Ray tracing (default on; `-c tracing=false` turns it off, see docs/deploy.md for its cost). */
  readonly tracing?: boolean;
}

/** What every function gets; the caller's environment is merged over it. */
const defaultEnvironment = {
  // Never log whole events: they carry the Authorization header.
  POWERTOOLS_LOGGER_LOG_EVENT: "false",
};

/**
 * One route's function with every default the service relies on: Node.js 24 on arm64, an ES module
 * built exactly as lib/bundle.ts describes (tests/infra compares the two artifacts), its own log group
 * with a retention, active X-Ray tracing, and a role that may write to that log group and send trace
 * segments and nothing else until the stack grants the route's table access.
 */
export class EndpointFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: EndpointFunctionProps) {
    // An explicit log group (not `logRetention`, which deploys an extra Lambda function to set it) and
    // an explicit role (the default one carries AWSLambdaBasicExecutionRole, which may write to every
    // log group in the account).
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `Runs the ${id} function`,
    });
    role.addToPolicy(
      new PolicyStatement({
        actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
        resources: [logGroup.logGroupArn],
      }),
    );
    super(scope, id, {
      entry: join(projectRoot, props.entry),
      handler: "handler",
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memoryMb ?? functionDefaults.memoryMb,
      timeout: Duration.seconds(props.timeoutSeconds ?? functionDefaults.timeoutSeconds),
      role,
      logGroup,
      environment: { ...defaultEnvironment, ...props.environment },
      depsLockFilePath: join(projectRoot, "package-lock.json"),
      projectRoot,
      bundling: {
        format: OutputFormat.ESM,
        target: bundling.target,
        mainFields: [...bundling.mainFields],
        minify: bundling.minify,
        sourceMap: bundling.sourcemap,
        bundleAwsSDK: true,
        externalModules: [...bundling.external],
        banner: bundling.banner,
        define: definesFor(id),
        logLevel: LogLevel.WARNING,
        ...(props.docsFiles?.length && { commandHooks: docsFilesHook(props.docsFiles) }),
        esbuildArgs: {
          "--alias": Object.entries(bundling.alias).map(([from, to]) => `${from}=${to}`),
          "--legal-comments": bundling.legalComments,
        },
      },
    });
    if (props.tracing ?? true) {
      // Set on the function itself rather than through `tracing`, which would put X-Ray's wildcard
      // statement in the role's own policy, where its acknowledgement would hide any other wildcard.
      (this.node.defaultChild as CfnFunction).tracingConfig = { mode: Tracing.ACTIVE };
      const tracing = tracingPolicy(scope);
      tracing.attachToRole(role);
      this.node.addDependency(tracing);
    }
  }
}

/**
 * X-Ray's write actions have no resource-level permissions (`*` is the only resource they take). One
 * policy per stack holds them for every function's role, with the one cdk-nag acknowledgement that
 * finding needs, so that a wildcard in any role's own policy is still reported.
 */
function tracingPolicy(scope: Construct): Policy {
  const stack = Stack.of(scope);
  const existing = stack.node.tryFindChild("TracingPolicy");
  if (existing) return existing as Policy;
  const policy = new Policy(stack, "TracingPolicy", {
    statements: [
      new PolicyStatement({
        actions: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        resources: ["*"],
      }),
    ],
  });
  Validations.of(policy).acknowledge({
    id: "AwsSolutions-IAM5[Resource::*]",
    reason:
      "X-Ray's PutTraceSegments and PutTelemetryRecords accept no resource ARN; this policy holds those two actions and nothing else, for active tracing on every function.",
  });
  return policy;
}

/** Writes the docs files into the bundle's folder, with the Node that runs the CDK app. */
function docsFilesHook(names: readonly string[]): ICommandHooks {
  const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir, outputDir) => [
      [process.execPath, join(projectRoot, "bin/docs-files.ts"), outputDir, ...names].map(quote).join(" "),
    ],
  };
}
