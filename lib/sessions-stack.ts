import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  StreamViewType,
  Table,
  TableEncryption,
} from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { Construct, Node } from "constructs";
import {
  CONTEXT_KEYS,
  type LifecycleSettings,
  lifecycleSettings,
} from "../functions/shared/lifecycle-settings.ts";
import { docsFilesOf } from "./docs.ts";
import { EndpointFunction } from "./endpoint-function.ts";
import { EventsPipeline } from "./events-pipeline.ts";
import { jwksSettingsProblem } from "./jwks-settings.ts";
import { LOCAL_INVOKE_VARIABLES } from "./local-invoke.ts";
import { Monitoring, type MonitoringSettings, monitoringSettingsFromContext } from "./monitoring.ts";
import { functionDefaults, type Route, type RouteId, routes, usesStore } from "./routes.ts";
import { type KeyType, sessionTable } from "./table.ts";

/** Everything an operator may set with `-c key=value` (see docs/deploy.md). */
export interface SessionsSettings {
  /** `prod` keeps its data (deletion protection, RETAIN); any other stage can be torn down. */
  readonly stage: string;
  readonly throttleRate: number;
  readonly throttleBurst: number;
  /** Browser origins allowed to call the API; empty: no CORS headers at all. */
  readonly corsOrigins: readonly string[];
  readonly memoryMb: number;
  readonly logRetention: RetentionDays;
  readonly jwksUrl?: string | undefined;
  readonly jwtIssuer?: string | undefined;
  readonly jwtAudience?: string | undefined;
  /** Alarm thresholds and periods, the alarm email (lib/monitoring.ts). */
  readonly monitoring: MonitoringSettings;
  /** `-c localInvoke=true`: a template for `sam local invoke` (lib/local-invoke.ts). */
  readonly localInvoke?: boolean;
  /** The session lifecycle (idle clock, use recording, per-user cap); absent: the defaults. */
  readonly lifecycle?: LifecycleSettings | undefined;
  /** Also deliver every lifecycle event, signed, to this https:// URL (docs/events.md). */
  readonly eventsWebhookUrl?: string | undefined;
}

export const defaultSettings = {
  stage: "dev",
  throttleRate: 100,
  throttleBurst: 200,
  corsOrigins: [],
  memoryMb: functionDefaults.memoryMb,
} as const;

const STAGE_PATTERN = /^[a-z][a-z0-9-]{0,19}$/;
const retentionDays = new Set(Object.values(RetentionDays).filter((v): v is number => typeof v === "number"));

/** Reads and validates the context (`cdk.json`, `-c key=value`); a bad value fails the synth loudly. */
export function settingsFromContext(node: Node): SessionsSettings {
  const read = (key: string): string | undefined => {
    const value = node.tryGetContext(key);
    return value === undefined || value === null || value === "" ? undefined : String(value);
  };
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    const raw = read(key);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new Error(`Context ${key} must be an integer from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
  const stage = read("stage") ?? defaultSettings.stage;
  if (!STAGE_PATTERN.test(stage)) {
    throw new Error(`Context stage must match ${STAGE_PATTERN} (e.g. dev, prod), got "${stage}"`);
  }
  const logRetention = integer("logRetentionDays", stage === "prod" ? 90 : 14, 1, 3653);
  if (!retentionDays.has(logRetention)) {
    throw new Error(
      `Context logRetentionDays must be one of CloudWatch's values (${[...retentionDays].join(", ")}), got ${logRetention}`,
    );
  }
  const corsOrigins = (read("corsOrigins") ?? "")
    .split(",")
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin !== "*" && !/^https?:\/\/[^/]+$/.test(origin)) {
      throw new Error(`Context corsOrigins: "${origin}" is not an origin (scheme://host[:port])`);
    }
  }
  const jwksUrl = read("jwksUrl");
  if (jwksUrl !== undefined && !jwksUrl.startsWith("https://")) {
    throw new Error(`Context jwksUrl must be an https:// URL, got "${jwksUrl}"`);
  }
  const jwtIssuer = read("jwtIssuer");
  const jwtAudience = read("jwtAudience");
  const jwksProblem = jwksSettingsProblem(
    { jwksUrl, jwtIssuer, jwtAudience },
    { jwksUrl: "jwksUrl", jwtIssuer: "jwtIssuer", jwtAudience: "jwtAudience" },
  );
  if (jwksProblem !== undefined) throw new Error(`Context ${jwksProblem}`);
  const eventsWebhookUrl = read("eventsWebhookUrl");
  if (eventsWebhookUrl !== undefined && URL.parse(eventsWebhookUrl)?.protocol !== "https:") {
    throw new Error(`Context eventsWebhookUrl must be an https:// URL, got "${eventsWebhookUrl}"`);
  }
  return {
    stage,
    throttleRate: integer("throttleRate", defaultSettings.throttleRate, 1, 10_000),
    throttleBurst: integer("throttleBurst", defaultSettings.throttleBurst, 1, 5_000),
    corsOrigins,
    memoryMb: integer("memoryMb", defaultSettings.memoryMb, 128, 10_240),
    logRetention: logRetention as RetentionDays,
    jwksUrl,
    jwtIssuer,
    jwtAudience,
    monitoring: monitoringSettingsFromContext(node),
    localInvoke: read("localInvoke") === "true",
    // The functions' own validator, so a value the functions would refuse fails the synth instead.
    lifecycle: lifecycleSettings(
      (name) => read(CONTEXT_KEYS[name] ?? name),
      "Context",
      (name) => CONTEXT_KEYS[name] ?? name,
    ),
    eventsWebhookUrl,
  };
}

export interface SessionsStackProps extends StackProps {
  readonly settings: SessionsSettings;
}

/** The lifecycle settings as the functions read them; defaults are left out of the template. */
function lifecycleEnvironment(settings: LifecycleSettings): Record<string, string> {
  return {
    ...(settings.idleSeconds > 0 && { SESSION_IDLE_SECONDS: String(settings.idleSeconds) }),
    ...(settings.touchSeconds !== 60 && { SESSION_TOUCH_SECONDS: String(settings.touchSeconds) }),
    ...(settings.maxPerUser > 0 && { SESSION_MAX_PER_USER: String(settings.maxPerUser) }),
    ...(settings.limitPolicy !== "evict_oldest" && { SESSION_LIMIT_POLICY: settings.limitPolicy }),
  };
}

const attributeType = (type: KeyType) => (type === "S" ? AttributeType.STRING : AttributeType.NUMBER);

/** The sessions service: the table of lib/table.ts and one function per entry of lib/routes.ts. */
export class SessionsStack extends Stack {
  readonly table: Table;
  readonly api: HttpApi;
  readonly events: EventsPipeline;
  readonly functions = new Map<string, EndpointFunction>();
  /** The alarm topic and the dashboard; other constructs add their alarms and panels through it. */
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: SessionsStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const keep = settings.stage === "prod";
    const removalPolicy = keep ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.table = new Table(this, "Sessions", {
      partitionKey: {
        name: sessionTable.partitionKey.name,
        type: attributeType(sessionTable.partitionKey.type),
      },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: sessionTable.ttlAttribute,
      stream: StreamViewType[sessionTable.stream],
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: keep,
      removalPolicy,
    });
    for (const index of Object.values(sessionTable.indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey.name, type: attributeType(index.partitionKey.type) },
        sortKey: { name: index.sortKey.name, type: attributeType(index.sortKey.type) },
        projectionType: ProjectionType.ALL,
      });
    }

    // Generated by CloudFormation at deploy: the value never passes through the template, the
    // synthesizing machine or an environment variable. Functions receive its ARN and read it once per
    // cold start (functions/shared/secret.ts).
    const jwtSecret = new Secret(this, "JwtSecret", {
      description: "HS256 key that signs and verifies the sessions service's access tokens",
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy,
    });
    Validations.of(jwtSecret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "Rotating the HS256 key would invalidate every access token already issued (they live as long as their session, up to SESSION_MAX_TTL_SECONDS); rotation needs a two-key verification window the service does not implement yet. Rotate by hand as described in docs/deploy.md.",
    });

    const storeEnvironment: Record<string, string> = {
      TABLE_NAME: this.table.tableName,
      JWT_SECRET_ARN: jwtSecret.secretArn,
      ...(settings.jwksUrl && { JWKS_URL: settings.jwksUrl }),
      ...(settings.jwtIssuer && { JWT_ISSUER: settings.jwtIssuer }),
      ...(settings.jwtAudience && { JWT_AUDIENCE: settings.jwtAudience }),
      ...(settings.lifecycle && lifecycleEnvironment(settings.lifecycle)),
      ...(settings.localInvoke && Object.fromEntries(LOCAL_INVOKE_VARIABLES.map((name) => [name, ""]))),
    };

    this.api = new HttpApi(this, "Api", {
      description: `Sessions API (${settings.stage})`,
      createDefaultStage: false,
      ...(settings.corsOrigins.length > 0 && {
        corsPreflight: {
          allowOrigins: [...settings.corsOrigins],
          allowMethods: [
            CorsHttpMethod.GET,
            CorsHttpMethod.POST,
            CorsHttpMethod.PATCH,
            CorsHttpMethod.DELETE,
          ],
          allowHeaders: ["authorization", "content-type"],
          exposeHeaders: ["link", "retry-after", "x-request-id"],
          maxAge: Duration.hours(1),
        },
      }),
    });
    const accessLogs = new LogGroup(this, "AccessLogs", {
      retention: settings.logRetention,
      removalPolicy,
    });
    const stage = new HttpStage(this, "DefaultStage", {
      httpApi: this.api,
      stageName: "$default",
      autoDeploy: true,
      throttle: { rateLimit: settings.throttleRate, burstLimit: settings.throttleBurst },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(accessLogFields)),
      },
    });

    for (const route of routes as readonly Route[]) {
      const fn = new EndpointFunction(this, route.id, {
        entry: route.entry,
        docsFiles: docsFilesOf[route.id as RouteId],
        environment: usesStore(route) ? storeEnvironment : {},
        memoryMb: settings.memoryMb,
        logRetention: settings.logRetention,
        removalPolicy,
        tracing: settings.monitoring.tracing,
      });
      this.grantTableAccess(fn, route);
      if (usesStore(route)) {
        fn.addToRolePolicy(
          new PolicyStatement({
            actions: ["secretsmanager:GetSecretValue"],
            resources: [jwtSecret.secretArn],
          }),
        );
      }
      const httpRoute = new HttpRoute(this, `${route.id}Route`, {
        httpApi: this.api,
        routeKey:
          route.path === "$default"
            ? HttpRouteKey.DEFAULT
            : HttpRouteKey.with(route.path, HttpMethod[route.method as keyof typeof HttpMethod]),
        integration: new HttpLambdaIntegration(`${route.id}Integration`, fn),
      });
      Validations.of(httpRoute).acknowledge({
        id: "AwsSolutions-APIG4",
        reason:
          route.family === "ops"
            ? "Public by design: /health, the API reference (/docs, /openapi.json) and the $default route (404/405 in the family's shape, GET /sessions/) answer before any credential is needed; the $default handler authenticates admin requests itself."
            : "Authorization is enforced in the handler: jose verifies the bearer JWT (or the registered session token) and a strongly consistent session read, with per-family 401/403 bodies that an API Gateway authorizer cannot produce.",
      });
      this.functions.set(route.id, fn);
    }

    this.monitoring = new Monitoring(this, "Monitoring", {
      settings: settings.monitoring,
      namespace: `Sessions/${settings.stage}`,
      api: this.api,
      accessLogs,
      table: this.table,
      functions: this.functions,
    });
    this.events = new EventsPipeline(this, "Events", {
      table: this.table,
      logRetention: settings.logRetention,
      removalPolicy,
      memoryMb: settings.memoryMb,
      webhookUrl: settings.eventsWebhookUrl,
      monitoring: this.monitoring,
      tracing: settings.monitoring.tracing,
    });

    new CfnOutput(this, "ApiUrl", { value: stage.url, description: "Base URL of the sessions API" });
    new CfnOutput(this, "TableName", { value: this.table.tableName, description: "DynamoDB table" });
    new CfnOutput(this, "JwtSecretArn", {
      value: jwtSecret.secretArn,
      description: "Secrets Manager secret holding the HS256 key (see docs/deploy.md for admin tokens)",
    });
    new CfnOutput(this, "AlarmTopicArn", {
      value: this.monitoring.topic.topicArn,
      description: "SNS topic every alarm notifies (subscribe with -c alarmEmail=… or any SNS subscription)",
    });
    new CfnOutput(this, "DashboardName", {
      value: this.monitoring.dashboard.dashboardName,
      description: "CloudWatch dashboard of the stack",
    });
    new CfnOutput(this, "EventBusName", {
      value: this.events.bus.eventBusName,
      description: "EventBridge bus of the lifecycle events (docs/events.md)",
    });
    new CfnOutput(this, "EventsDeadLetterQueueUrl", { value: this.events.deadLetterQueue.queueUrl });
    new CfnOutput(this, "EventsDeadLetterQueueArn", { value: this.events.deadLetterQueue.queueArn });
    if (this.events.webhook) {
      new CfnOutput(this, "EventsWebhookSecretArn", {
        value: this.events.webhook.secret.secretArn,
        description: "Signing key of the webhook target: receivers use whsec_ + its base64",
      });
    }
  }

  /** Exactly the route's declared access: its table actions on the table, Query on its indexes. */
  private grantTableAccess(fn: EndpointFunction, route: Route): void {
    if (route.access.table.length > 0) {
      fn.addToRolePolicy(
        new PolicyStatement({ actions: [...route.access.table], resources: [this.table.tableArn] }),
      );
    }
    if (route.access.query.length > 0) {
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ["dynamodb:Query"],
          resources: route.access.query.map(
            (index) => `${this.table.tableArn}/index/${sessionTable.indexes[index].name}`,
          ),
        }),
      );
    }
  }
}

/** One JSON line per request: who answered, how, and how fast; never a header or a body. */
const accessLogFields = {
  requestId: "$context.requestId",
  time: "$context.requestTime",
  method: "$context.httpMethod",
  path: "$context.path",
  routeKey: "$context.routeKey",
  status: "$context.status",
  responseLength: "$context.responseLength",
  latencyMs: "$context.responseLatency",
  integrationLatencyMs: "$context.integrationLatency",
  integrationStatus: "$context.integrationStatus",
  integrationError: "$context.integrationErrorMessage",
  error: "$context.error.message",
};
