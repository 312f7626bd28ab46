import { Duration, Stack, Validations } from "aws-cdk-lib";
import type { HttpApi } from "aws-cdk-lib/aws-apigatewayv2";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
  LogQueryVisualizationType,
  LogQueryWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
  Unit,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { Operation, type Table } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { FilterPattern, type ILogGroup, MetricFilter } from "aws-cdk-lib/aws-logs";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct, type Node } from "constructs";
import { authFailure, authFailureReasons, eventCounts, requestCounts } from "./log-metrics.ts";
import { type Route, routes, usesStore } from "./routes.ts";
import { sessionTable } from "./table.ts";

// The operator's kit: one SNS topic that every alarm notifies (in ALARM and back to OK), the alarms
// of docs/deploy.md with thresholds and periods from context, the metric filters that turn request
// log lines into the service's own metrics, and one dashboard. Other constructs of the stack add
// their alarms and panels through `addAlarm`, `addWidgets` and `watchEventsPipeline`.

/** Alarm thresholds and periods, from context (`-c key=value`; docs/deploy.md says why each default). */
export interface MonitoringSettings {
  /** Subscribed to the alarm topic when set (the address must confirm the subscription). */
  readonly alarmEmail?: string | undefined;
  readonly periodMinutes: number;
  /** API 5xx answers, percent of requests, per period. */
  readonly api5xxPercent: number;
  /** API p99 latency (ms), over `apiP99Periods` consecutive periods. */
  readonly apiP99Ms: number;
  readonly apiP99Periods: number;
  /** Per function, per period (Lambda's own Errors: crashes, timeouts, init failures). */
  readonly functionErrors: number;
  readonly functionThrottles: number;
  /** DynamoDB ThrottledRequests and SystemErrors on the table, all operations, per period. */
  readonly tableThrottles: number;
  readonly tableSystemErrors: number;
  /** Messages waiting in the events dead-letter queue. */
  readonly dlqMessages: number;
  /** Age of the oldest stream record the events function has not read yet. */
  readonly iteratorAgeSeconds: number;
  /** Active X-Ray tracing on every function (context `tracing`, default true). */
  readonly tracing: boolean;
}

export const defaultMonitoringSettings = {
  periodMinutes: 5,
  api5xxPercent: 1,
  apiP99Ms: 1000,
  apiP99Periods: 3,
  functionErrors: 1,
  functionThrottles: 1,
  tableThrottles: 1,
  tableSystemErrors: 1,
  dlqMessages: 1,
  iteratorAgeSeconds: 300,
} as const satisfies Omit<MonitoringSettings, "alarmEmail" | "tracing">;

/** Context key, default and bounds of each setting; one table for parsing, docs and tests. */
export const monitoringContext = {
  periodMinutes: { key: "alarmPeriodMinutes", min: 1, max: 60, integer: true },
  api5xxPercent: { key: "alarmApi5xxPercent", min: 0.01, max: 100, integer: false },
  apiP99Ms: { key: "alarmApiP99Ms", min: 10, max: 30_000, integer: true },
  apiP99Periods: { key: "alarmApiP99Periods", min: 1, max: 24, integer: true },
  functionErrors: { key: "alarmFunctionErrors", min: 1, max: 1_000_000, integer: true },
  functionThrottles: { key: "alarmFunctionThrottles", min: 1, max: 1_000_000, integer: true },
  tableThrottles: { key: "alarmTableThrottles", min: 1, max: 1_000_000, integer: true },
  tableSystemErrors: { key: "alarmTableSystemErrors", min: 1, max: 1_000_000, integer: true },
  dlqMessages: { key: "alarmDlqMessages", min: 1, max: 1_000_000, integer: true },
  iteratorAgeSeconds: { key: "alarmIteratorAgeSeconds", min: 1, max: 86_400, integer: true },
} as const satisfies Record<keyof typeof defaultMonitoringSettings, unknown>;

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** Reads and validates the monitoring context; a bad value fails the synth with the key's name. */
export function monitoringSettingsFromContext(node: Node): MonitoringSettings {
  const read = (key: string): string | undefined => {
    const value = node.tryGetContext(key);
    return value === undefined || value === null || value === "" ? undefined : String(value);
  };
  const settings: Record<string, number> = {};
  for (const [name, spec] of Object.entries(monitoringContext)) {
    const raw = read(spec.key);
    const fallback = defaultMonitoringSettings[name as keyof typeof defaultMonitoringSettings];
    const value = raw === undefined ? fallback : Number(raw);
    if (
      !Number.isFinite(value) ||
      value < spec.min ||
      value > spec.max ||
      (spec.integer && !Number.isInteger(value))
    ) {
      throw new Error(
        `Context ${spec.key} must be ${spec.integer ? "an integer" : "a number"} from ${spec.min} to ${spec.max}, got "${raw}"`,
      );
    }
    settings[name] = value;
  }
  const alarmEmail = read("alarmEmail");
  if (alarmEmail !== undefined && !EMAIL.test(alarmEmail)) {
    throw new Error(`Context alarmEmail must be an email address, got "${alarmEmail}"`);
  }
  const tracing = read("tracing") ?? "true";
  if (tracing !== "true" && tracing !== "false") {
    throw new Error(`Context tracing must be true or false, got "${tracing}"`);
  }
  return {
    ...(settings as Omit<MonitoringSettings, "alarmEmail" | "tracing">),
    alarmEmail,
    tracing: tracing === "true",
  };
}

/** The events pipeline (stream → events function → bus, with a dead-letter queue), when the stack has one. */
export interface EventsPipelineWatch {
  /** The function that reads the table's stream. */
  readonly fn: IFunction;
  /** Where the stream records that still fail after the retries go. */
  readonly dlq: IQueue;
  /** The function's log group, when its lines carry the fields of `eventCounts` (lib/log-metrics.ts). */
  readonly logGroup?: ILogGroup;
}

export interface MonitoringProps {
  readonly settings: MonitoringSettings;
  /** Namespace of the metrics the filters publish; one per stage, so two stages never mix. */
  readonly namespace: string;
  readonly api: HttpApi;
  /** The API's access log (one JSON line per request with `routeKey` and `status`). */
  readonly accessLogs: ILogGroup;
  readonly table: Table;
  /** Every route's function, by route id. */
  readonly functions: ReadonlyMap<string, IFunction & { readonly logGroup: ILogGroup }>;
  readonly eventsPipeline?: EventsPipelineWatch;
}

/**
 * Every DynamoDB operation the store sends (functions/shared/store/; a test compares the two), for
 * the table's throttle and system-error alarms: one metric per operation, and an alarm takes at most
 * 10. Transactions are authorized as their parts, so they appear in no route's access list.
 */
export const TABLE_OPERATIONS = [
  Operation.GET_ITEM,
  Operation.PUT_ITEM,
  Operation.UPDATE_ITEM,
  Operation.DELETE_ITEM,
  Operation.QUERY,
  Operation.TRANSACT_WRITE_ITEMS,
] as const;

/** A route can change sessions when it may write the table; only those get the count filters. */
const writesTable = (route: Route) => route.access.table.some((action) => action !== "dynamodb:GetItem");

export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly namespace: string;
  private readonly settings: MonitoringSettings;
  private readonly period: Duration;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { settings, api, table } = props;
    this.settings = settings;
    this.namespace = props.namespace;
    this.period = Duration.minutes(settings.periodMinutes);

    this.topic = new Topic(this, "AlarmTopic", {
      displayName: `${Stack.of(this).stackName} alarms`,
      enforceSSL: true,
    });
    // A topic policy replaces SNS's default one, which is what lets CloudWatch publish otherwise.
    const { account, partition, region } = Stack.of(this);
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { "aws:SourceAccount": account },
          ArnLike: { "aws:SourceArn": `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
        },
      }),
    );
    Validations.of(this.topic).acknowledge({
      id: "AwsSolutions-SNS2",
      reason:
        "Alarm notifications carry alarm names, metric names and thresholds, never session data. CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key, and a customer managed key would cost more than every alarm of the stack together; publishing is TLS-only (enforceSSL).",
    });
    if (settings.alarmEmail) this.topic.addSubscription(new EmailSubscription(settings.alarmEmail));

    this.dashboard = new Dashboard(this, "Dashboard", { defaultInterval: Duration.hours(6) });

    const period = this.period;
    const requests = api.metricCount({ period, statistic: "Sum" });
    const serverErrors = api.metricServerError({ period, statistic: "Sum" });
    const apiAlarms = [
      this.addAlarm(
        new Alarm(this, "Api5xxRate", {
          alarmDescription: `More than ${settings.api5xxPercent}% of API requests answered 5xx in ${settings.periodMinutes} min (a 500 is a bug; a 503 means DynamoDB did not answer)`,
          metric: new MathExpression({
            expression: "100 * FILL(errors, 0) / requests",
            usingMetrics: { errors: serverErrors, requests },
            label: "5xx, % of requests",
            period,
          }),
          threshold: settings.api5xxPercent,
          ...once(),
        }),
      ),
      this.addAlarm(
        new Alarm(this, "ApiLatencyP99", {
          alarmDescription: `API p99 latency above ${settings.apiP99Ms} ms for ${settings.apiP99Periods} periods of ${settings.periodMinutes} min`,
          metric: api.metricLatency({ period, statistic: "p99" }),
          threshold: settings.apiP99Ms,
          evaluationPeriods: settings.apiP99Periods,
          datapointsToAlarm: settings.apiP99Periods,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      ),
    ];

    const functionAlarms = [...props.functions].flatMap(([routeId, fn]) => this.functionAlarms(routeId, fn));

    const throttles = table.metricThrottledRequestsForOperations({
      operations: [...TABLE_OPERATIONS],
      period,
    });
    const systemErrors = table.metricSystemErrorsForOperations({ operations: [...TABLE_OPERATIONS], period });
    const tableAlarms = [
      this.addAlarm(
        new Alarm(this, "TableThrottles", {
          alarmDescription: `DynamoDB throttled ${settings.tableThrottles} or more requests in ${settings.periodMinutes} min (each one retried, then a 503)`,
          metric: throttles,
          threshold: settings.tableThrottles,
          ...once(),
        }),
      ),
      this.addAlarm(
        new Alarm(this, "TableSystemErrors", {
          alarmDescription: `DynamoDB answered ${settings.tableSystemErrors} or more requests with a server error in ${settings.periodMinutes} min`,
          metric: systemErrors,
          threshold: settings.tableSystemErrors,
          ...once(),
        }),
      ),
    ];

    // --- the service's own metrics, from the request log lines ---------------------------------
    for (const route of routes as readonly Route[]) {
      const fn = props.functions.get(route.id);
      if (!fn) continue;
      if (writesTable(route)) {
        for (const [field, metricName] of Object.entries(requestCounts)) {
          this.countFilter(`${route.id}${metricName}`, fn.logGroup, field, metricName);
        }
      }
      // Every route that authenticates (all but the health check) can refuse a credential.
      if (usesStore(route)) {
        new MetricFilter(this, `${route.id}${authFailure.metric}`, {
          logGroup: fn.logGroup,
          filterPattern: FilterPattern.exists(`$.${authFailure.field}`),
          metricNamespace: this.namespace,
          metricName: authFailure.metric,
          dimensions: { [authFailure.dimension]: `$.${authFailure.field}` },
          metricValue: "1",
          unit: Unit.COUNT,
        });
      }
    }

    // --- the dashboard -----------------------------------------------------------------------------
    const sum = { period, statistic: "Sum" };
    const perRoute = (make: (fn: IFunction) => IMetric, label: string) =>
      [...props.functions].map(([routeId, fn]) => withLabel(make(fn), `${routeId} ${label}`.trim()));
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# ${Stack.of(this).stackName}\nAlarms, thresholds and what each panel means: docs/deploy.md ("Monitoring").`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new AlarmStatusWidget({
        title: "Alarms",
        alarms: [...apiAlarms, ...tableAlarms, ...functionAlarms],
        width: 24,
        height: 4,
      }),
    );
    this.dashboard.addWidgets(
      graph("API requests", [withLabel(requests, "requests")]),
      graph("API 4xx and 5xx", [
        withLabel(api.metricClientError(sum), "4xx"),
        withLabel(serverErrors, "5xx"),
      ]),
      graph("API latency (ms)", [
        withLabel(api.metricLatency({ period, statistic: "p50" }), "p50"),
        withLabel(api.metricLatency({ period, statistic: "p99" }), "p99"),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        "Requests per route (function invocations)",
        perRoute((fn) => fn.metricInvocations(sum), ""),
      ),
      graph(
        "p50 per route (function duration, ms)",
        perRoute((fn) => fn.metricDuration({ period, statistic: "p50" }), "p50"),
      ),
      graph(
        "p99 per route (function duration, ms)",
        perRoute((fn) => fn.metricDuration({ period, statistic: "p99" }), "p99"),
      ),
    );
    this.dashboard.addWidgets(
      new LogQueryWidget({
        title: "Answers per route and status (access log)",
        logGroupNames: [props.accessLogs.logGroupName],
        queryLines: ["stats count(*) as requests by routeKey, status", "sort routeKey asc, status asc"],
        view: LogQueryVisualizationType.TABLE,
        width: 24,
        height: 8,
      }),
    );
    const indexWrites = Object.values(sessionTable.indexes).map((index) =>
      withLabel(
        new Metric({
          namespace: "AWS/DynamoDB",
          metricName: "ConsumedWriteCapacityUnits",
          dimensionsMap: { TableName: table.tableName, GlobalSecondaryIndexName: index.name },
          ...sum,
        }),
        `${index.name} writes`,
      ),
    );
    this.dashboard.addWidgets(
      graph("DynamoDB consumed capacity (units)", [
        withLabel(table.metricConsumedReadCapacityUnits(sum), "table reads"),
        withLabel(table.metricConsumedWriteCapacityUnits(sum), "table writes"),
        ...indexWrites,
      ]),
      // Two graphs: both expressions name their per-operation metrics alike.
      graph("DynamoDB throttled requests", [withLabel(throttles, "throttled requests")]),
      graph("DynamoDB system errors", [withLabel(systemErrors, "system errors")]),
    );
    this.dashboard.addWidgets(
      graph(
        "Sessions created, deleted, deactivated, evicted",
        Object.values(requestCounts).map((name) => withLabel(this.metric(name), name)),
      ),
      graph(
        "Auth failures by reason",
        authFailureReasons.map((reason) =>
          withLabel(this.metric(authFailure.metric, { [authFailure.dimension]: reason }), reason),
        ),
      ),
      graph("Sessions expired (TTL deletions)", [
        withLabel(
          new Metric({
            namespace: "AWS/DynamoDB",
            metricName: "TimeToLiveDeletedItemCount",
            dimensionsMap: { TableName: table.tableName },
            ...sum,
          }),
          "items removed by TTL (expired sessions and their token items)",
        ),
      ]),
    );

    if (props.eventsPipeline) this.watchEventsPipeline(props.eventsPipeline);
  }

  /** Notifies the topic when the alarm fires and when it recovers. */
  addAlarm<T extends Alarm>(alarm: T): T {
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    return alarm;
  }

  addWidgets(...widgets: IWidget[]): void {
    this.dashboard.addWidgets(...widgets);
  }

  /** A metric the filters publish (sum per period). */
  metric(metricName: string, dimensionsMap?: Record<string, string>): Metric {
    return new Metric({
      namespace: this.namespace,
      metricName,
      period: this.period,
      statistic: "Sum",
      ...(dimensionsMap && { dimensionsMap }),
    });
  }

  /**
   * The events pipeline's alarms (dead-letter queue depth, stream iterator age, the function's
   * errors and throttles) and its row of panels; with its log group, the counts of `eventCounts`.
   */
  watchEventsPipeline({ fn, dlq, logGroup }: EventsPipelineWatch): Alarm[] {
    const { settings, period } = this;
    if (logGroup) {
      for (const [field, metricName] of Object.entries(eventCounts)) {
        this.countFilter(`Events${metricName}`, logGroup, field, metricName);
      }
    }
    const depth = dlq.metricApproximateNumberOfMessagesVisible({ period, statistic: "Maximum" });
    const iteratorAge = fn.metric("IteratorAge", { period, statistic: "Maximum", unit: Unit.MILLISECONDS });
    const alarms = [
      this.addAlarm(
        new Alarm(this, "EventsDlqDepth", {
          alarmDescription: `${settings.dlqMessages} or more session events in the dead-letter queue: they were not published after every retry`,
          metric: depth,
          threshold: settings.dlqMessages,
          ...once(),
        }),
      ),
      this.addAlarm(
        new Alarm(this, "EventsIteratorAge", {
          alarmDescription: `The events function is more than ${settings.iteratorAgeSeconds} s behind the table's stream (records are kept 24 h)`,
          metric: iteratorAge,
          threshold: settings.iteratorAgeSeconds * 1000,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      ),
      ...this.functionAlarms("Events", fn),
    ];
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: "Events alarms", alarms, width: 24, height: 3 }),
    );
    this.dashboard.addWidgets(
      graph(
        "Events published and failed",
        logGroup
          ? [
              withLabel(this.metric(eventCounts.eventsPublished), "published"),
              withLabel(this.metric(eventCounts.eventsFailed), "failed"),
            ]
          : [withLabel(fn.metricErrors({ period, statistic: "Sum" }), "function errors")],
      ),
      graph("Events dead-letter queue (messages)", [withLabel(depth, "visible")]),
      graph("Stream iterator age (ms)", [withLabel(iteratorAge, "max")]),
    );
    if (logGroup) {
      this.dashboard.addWidgets(
        graph("Sessions expired (session.expired events)", [
          withLabel(this.metric(eventCounts.sessionsExpired), "expired"),
        ]),
      );
    }
    return alarms;
  }

  private functionAlarms(id: string, fn: IFunction): Alarm[] {
    const { settings, period } = this;
    return [
      this.addAlarm(
        new Alarm(this, `${id}Errors`, {
          alarmDescription: `${id}: ${settings.functionErrors} or more invocations failed in ${settings.periodMinutes} min (crash, timeout or init failure; handled errors are answers, not these)`,
          metric: fn.metricErrors({ period, statistic: "Sum" }),
          threshold: settings.functionErrors,
          ...once(),
        }),
      ),
      this.addAlarm(
        new Alarm(this, `${id}Throttles`, {
          alarmDescription: `${id}: ${settings.functionThrottles} or more invocations throttled in ${settings.periodMinutes} min (concurrency limit reached)`,
          metric: fn.metricThrottles({ period, statistic: "Sum" }),
          threshold: settings.functionThrottles,
          ...once(),
        }),
      ),
    ];
  }

  /** Adds a numeric field's value of every line that carries it (> 0) to the metric. */
  private countFilter(id: string, logGroup: ILogGroup, field: string, metricName: string): void {
    new MetricFilter(this, id, {
      logGroup,
      filterPattern: FilterPattern.numberValue(`$.${field}`, ">", 0),
      metricNamespace: this.namespace,
      metricName,
      metricValue: `$.${field}`,
      unit: Unit.COUNT,
    });
  }
}

/** At or above the threshold in one period; no data (no traffic) is not an alarm. */
const once = () => ({
  evaluationPeriods: 1,
  comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  treatMissingData: TreatMissingData.NOT_BREACHING,
});

const withLabel = (metric: IMetric, label: string): IMetric =>
  metric instanceof Metric || metric instanceof MathExpression ? metric.with({ label }) : metric;

const graph = (title: string, left: IMetric[]) => new GraphWidget({ title, left, width: 8, height: 6 });
