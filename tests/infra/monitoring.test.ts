import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Duration } from "aws-cdk-lib";
import { Alarm, Metric } from "aws-cdk-lib/aws-cloudwatch";
import { describe, expect, it } from "vitest";
import { authFailure, eventCounts, requestCounts } from "../../lib/log-metrics.ts";
import { defaultMonitoringSettings, TABLE_OPERATIONS } from "../../lib/monitoring.ts";
import { type Route, routes, usesStore } from "../../lib/routes.ts";
import { logicalIdOf, type Resources, resourcesOf, synthStack } from "./stack-fixture.ts";

const allRoutes = routes as readonly Route[];
const dev = synthStack({ stage: "dev" });

const only = (record: Resources) => {
  const entries = Object.entries(record);
  expect(entries).toHaveLength(1);
  return entries[0] as [string, Resources[string]];
};
const [topicId] = only(resourcesOf(dev.template, "AWS::SNS::Topic"));
const [apiId] = only(resourcesOf(dev.template, "AWS::ApiGatewayV2::Api"));
const [tableId] = only(resourcesOf(dev.template, "AWS::DynamoDB::Table"));

type AlarmProps = Record<string, any>;
interface Watched {
  namespace: string;
  metricName: string;
  dimensions: Record<string, unknown>;
  stat: string | undefined;
  period: number;
}

/** Every metric an alarm reads, whether it watches one metric or a math expression over several. */
function watched(alarm: AlarmProps): Watched[] {
  const dims = (list: { Name: string; Value: unknown }[] = []) =>
    Object.fromEntries(list.map((d) => [d.Name, d.Value]));
  if (alarm.MetricName) {
    return [
      {
        namespace: alarm.Namespace,
        metricName: alarm.MetricName,
        dimensions: dims(alarm.Dimensions),
        stat: alarm.Statistic ?? alarm.ExtendedStatistic,
        period: alarm.Period,
      },
    ];
  }
  return (alarm.Metrics as any[])
    .filter((m) => m.MetricStat)
    .map((m) => ({
      namespace: m.MetricStat.Metric.Namespace,
      metricName: m.MetricStat.Metric.MetricName,
      dimensions: dims(m.MetricStat.Metric.Dimensions),
      stat: m.MetricStat.Stat,
      period: m.MetricStat.Period,
    }));
}

const alarmsOf = (template = dev.template) =>
  Object.values(resourcesOf(template, "AWS::CloudWatch::Alarm")).map((a) => a.Properties as AlarmProps);

/** The one alarm that reads `metricName` in `namespace` with these dimensions. */
function alarmOn(
  namespace: string,
  metricName: string,
  dimensions: Record<string, unknown>,
  template = dev.template,
) {
  const sameDimensions = (actual: Record<string, unknown>) =>
    Object.keys(actual).length === Object.keys(dimensions).length &&
    Object.entries(dimensions).every(
      ([name, value]) => JSON.stringify(actual[name]) === JSON.stringify(value),
    );
  const found = alarmsOf(template).filter((alarm) =>
    watched(alarm).some(
      (w) => w.namespace === namespace && w.metricName === metricName && sameDimensions(w.dimensions),
    ),
  );
  expect(found, `${namespace} ${metricName} ${JSON.stringify(dimensions)}`).toHaveLength(1);
  return found[0] as AlarmProps;
}

describe("alarm topic", () => {
  it("is the target of every alarm, when it fires and when it recovers", () => {
    const alarms = alarmsOf();
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      expect(alarm.AlarmActions, alarm.AlarmDescription).toEqual([{ Ref: topicId }]);
      expect(alarm.OKActions, alarm.AlarmDescription).toEqual([{ Ref: topicId }]);
      expect(alarm.TreatMissingData).toBe("notBreaching");
    }
  });

  it("lets CloudWatch alarms of this account publish, over TLS only", () => {
    const [, policy] = only(resourcesOf(dev.template, "AWS::SNS::TopicPolicy"));
    const statements = policy.Properties.PolicyDocument.Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: "Allow",
        Principal: { Service: "cloudwatch.amazonaws.com" },
        Action: "sns:Publish",
        Resource: { Ref: topicId },
        Condition: expect.objectContaining({
          StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
        }),
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
    );
  });

  it("is in the outputs with the dashboard's name", () => {
    const [dashboardId] = only(resourcesOf(dev.template, "AWS::CloudWatch::Dashboard"));
    const outputs = dev.template.toJSON().Outputs;
    expect(outputs.AlarmTopicArn.Value).toEqual({ Ref: topicId });
    expect(outputs.DashboardName.Value).toEqual({ Ref: dashboardId });
  });

  it("gets an email subscription only from the alarmEmail context", () => {
    dev.template.resourceCountIs("AWS::SNS::Subscription", 0);
    const { template } = synthStack({ alarmEmail: "ops@example.com" });
    const [, subscription] = only(resourcesOf(template, "AWS::SNS::Subscription"));
    expect(subscription.Properties).toMatchObject({ Protocol: "email", Endpoint: "ops@example.com" });
  });
});

describe("alarms", () => {
  const api = { ApiId: { Ref: apiId } };
  const table = { TableName: { Ref: tableId } };

  it("API 5xx rate: 5xx over requests of the API, in percent", () => {
    const alarm = alarmOn("AWS/ApiGateway", "5xx", api);
    expect(
      watched(alarm)
        .map((w) => `${w.metricName} ${w.stat} ${w.period}`)
        .sort(),
    ).toEqual(["5xx Sum 300", "Count Sum 300"]);
    expect(alarm.Metrics.find((m: any) => m.Expression).Expression).toBe("100 * FILL(errors, 0) / requests");
    expect(alarm).toMatchObject({
      Threshold: defaultMonitoringSettings.api5xxPercent,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      EvaluationPeriods: 1,
    });
  });

  it("API p99 latency over three consecutive periods", () => {
    const alarm = alarmOn("AWS/ApiGateway", "Latency", api);
    expect(alarm).toMatchObject({
      ExtendedStatistic: "p99",
      Period: 300,
      Threshold: defaultMonitoringSettings.apiP99Ms,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
  });

  for (const route of allRoutes) {
    it(`${route.id}: function errors and throttles`, () => {
      const fn = { FunctionName: { Ref: logicalIdOf(dev.stack, route.id) } };
      for (const metric of ["Errors", "Throttles"]) {
        expect(alarmOn("AWS/Lambda", metric, fn)).toMatchObject({
          Statistic: "Sum",
          Period: 300,
          Threshold: 1,
          ComparisonOperator: "GreaterThanOrEqualToThreshold",
        });
      }
    });
  }

  for (const metricName of ["ThrottledRequests", "SystemErrors"]) {
    it(`DynamoDB ${metricName}: the sum over every operation the store sends`, () => {
      const alarm = alarmOn("AWS/DynamoDB", metricName, { ...table, Operation: "GetItem" });
      const operations = watched(alarm).map((w) => {
        expect(w).toMatchObject({ namespace: "AWS/DynamoDB", metricName, stat: "Sum", period: 300 });
        expect(w.dimensions.TableName).toEqual({ Ref: tableId });
        return w.dimensions.Operation;
      });
      expect([...operations].sort()).toEqual([...TABLE_OPERATIONS].sort());
      // The alarm reads the sum of all of them, not one.
      const ids = (alarm.Metrics as any[]).filter((m) => m.MetricStat).map((m) => m.Id);
      const expression = (alarm.Metrics as any[]).find((m) => m.Expression).Expression as string;
      expect(expression.split(" + ").sort()).toEqual(ids.sort());
    });
  }

  it("watch exactly the operations the store sends, and stay within an alarm's 10 metrics", () => {
    const store = join(import.meta.dirname, "..", "..", "functions", "shared", "store");
    const commands = new Set(
      readdirSync(store)
        .filter((file) => file.endsWith(".ts"))
        .flatMap((file) => [...readFileSync(join(store, file), "utf8").matchAll(/new (\w+)Command\(/g)])
        .map((match) => match[1] as string),
    );
    // The document client's command names, as DynamoDB's Operation dimension spells them.
    const operation = (command: string) =>
      ({
        Get: "GetItem",
        Put: "PutItem",
        Update: "UpdateItem",
        Delete: "DeleteItem",
        BatchWrite: "BatchWriteItem",
        BatchGet: "BatchGetItem",
        TransactWrite: "TransactWriteItems",
        TransactGet: "TransactGetItems",
      })[command] ?? command;
    expect([...commands].map(operation).sort()).toEqual([...TABLE_OPERATIONS].sort());
    expect(TABLE_OPERATIONS.length).toBeLessThanOrEqual(10);
  });

  it("take thresholds and periods from context", () => {
    const { template, stack } = synthStack({
      alarmPeriodMinutes: "1",
      alarmApi5xxPercent: "2.5",
      alarmApiP99Ms: "800",
      alarmApiP99Periods: "5",
      alarmFunctionErrors: "3",
      alarmFunctionThrottles: "4",
      alarmTableThrottles: "6",
      alarmTableSystemErrors: "7",
    });
    const [api2] = only(resourcesOf(template, "AWS::ApiGatewayV2::Api"));
    const [table2] = only(resourcesOf(template, "AWS::DynamoDB::Table"));
    const fn = { FunctionName: { Ref: logicalIdOf(stack, "AdminGetSession") } };
    const rate = alarmOn("AWS/ApiGateway", "5xx", { ApiId: { Ref: api2 } }, template);
    expect(rate.Threshold).toBe(2.5);
    expect(watched(rate).map((w) => w.period)).toEqual([60, 60]);
    expect(alarmOn("AWS/ApiGateway", "Latency", { ApiId: { Ref: api2 } }, template)).toMatchObject({
      Threshold: 800,
      Period: 60,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
    });
    expect(alarmOn("AWS/Lambda", "Errors", fn, template)).toMatchObject({ Threshold: 3, Period: 60 });
    expect(alarmOn("AWS/Lambda", "Throttles", fn, template)).toMatchObject({ Threshold: 4, Period: 60 });
    const op = { TableName: { Ref: table2 }, Operation: "Query" };
    expect(alarmOn("AWS/DynamoDB", "ThrottledRequests", op, template).Threshold).toBe(6);
    expect(alarmOn("AWS/DynamoDB", "SystemErrors", op, template).Threshold).toBe(7);
  });

  it("refuse malformed context values instead of deploying them", () => {
    expect(() => synthStack({ alarmApi5xxPercent: "high" })).toThrow(/alarmApi5xxPercent/);
    expect(() => synthStack({ alarmPeriodMinutes: "0" })).toThrow(/alarmPeriodMinutes/);
    expect(() => synthStack({ alarmApiP99Periods: "1.5" })).toThrow(/alarmApiP99Periods/);
    expect(() => synthStack({ alarmIteratorAgeSeconds: "-5" })).toThrow(/alarmIteratorAgeSeconds/);
    expect(() => synthStack({ alarmEmail: "ops.example.com" })).toThrow(/alarmEmail/);
  });
});

describe("tracing", () => {
  it("is active on every function of the stack", () => {
    // Every function, not only the routes' (a function the stack gains later is held to it too).
    const functions = Object.values(resourcesOf(dev.template, "AWS::Lambda::Function"));
    expect(functions.length).toBeGreaterThanOrEqual(allRoutes.length);
    for (const fn of functions) expect(fn.Properties.TracingConfig).toEqual({ Mode: "Active" });
  });

  it("is turned off with -c tracing=false, and its permission goes with it", () => {
    const { template } = synthStack({ tracing: "false" });
    for (const fn of Object.values(resourcesOf(template, "AWS::Lambda::Function"))) {
      expect(fn.Properties.TracingConfig).toBeUndefined();
    }
    expect(JSON.stringify(resourcesOf(template, "AWS::IAM::Policy"))).not.toContain("xray:");
    expect(() => synthStack({ tracing: "off" })).toThrow(/tracing/);
  });
});

describe("metrics from the request log lines", () => {
  const filters = Object.values(resourcesOf(dev.template, "AWS::Logs::MetricFilter")).map(
    (f) => f.Properties,
  );
  const logGroupOf = (routeId: string) =>
    resourcesOf(dev.template, "AWS::Lambda::Function")[logicalIdOf(dev.stack, routeId)]?.Properties
      .LoggingConfig.LogGroup;
  const writes = (route: Route) => route.access.table.some((a) => a !== "dynamodb:GetItem");

  it("count each field of lib/log-metrics.ts on every route that writes the table", () => {
    expect(allRoutes.filter(writes).length).toBeGreaterThan(0);
    for (const route of allRoutes) {
      const own = filters.filter(
        (f) => JSON.stringify(f.LogGroupName) === JSON.stringify(logGroupOf(route.id)),
      );
      const counted = own.filter((f) => f.MetricTransformations[0].MetricName !== authFailure.metric);
      if (!writes(route)) {
        expect(counted, route.id).toEqual([]);
        continue;
      }
      expect(
        counted.map((f) => ({ pattern: f.FilterPattern, ...f.MetricTransformations[0] })),
        route.id,
      ).toEqual(
        Object.entries(requestCounts).map(([field, metricName]) => ({
          pattern: `{ $.${field} > 0 }`,
          MetricName: metricName,
          MetricNamespace: "Sessions/dev",
          MetricValue: `$.${field}`,
          Unit: "Count",
        })),
      );
    }
  });

  it("count auth failures by reason on every route that authenticates", () => {
    for (const route of allRoutes) {
      const own = filters.filter(
        (f) =>
          JSON.stringify(f.LogGroupName) === JSON.stringify(logGroupOf(route.id)) &&
          f.MetricTransformations[0].MetricName === authFailure.metric,
      );
      expect(own, route.id).toHaveLength(usesStore(route) ? 1 : 0);
      if (!usesStore(route)) continue;
      expect(own[0]?.FilterPattern).toBe(`{ $.${authFailure.field} = "*" }`);
      expect(own[0]?.MetricTransformations).toEqual([
        {
          MetricName: authFailure.metric,
          MetricNamespace: "Sessions/dev",
          MetricValue: "1",
          Unit: "Count",
          Dimensions: [{ Key: authFailure.dimension, Value: `$.${authFailure.field}` }],
        },
      ]);
    }
  });

  it("publish under one namespace per stage, so two stages in an account never mix", () => {
    const prod = synthStack({ stage: "prod" });
    const namespaces = Object.values(resourcesOf(prod.template, "AWS::Logs::MetricFilter")).map(
      (f) => f.Properties.MetricTransformations[0].MetricNamespace,
    );
    expect(new Set(namespaces)).toEqual(new Set(["Sessions/prod"]));
  });
});

describe("dashboard", () => {
  it("exists and shows the API per route, DynamoDB, the sessions and the auth failures", () => {
    const [, dashboard] = only(resourcesOf(dev.template, "AWS::CloudWatch::Dashboard"));
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const needle of [
      '\\"AWS/ApiGateway\\",\\"Count\\"',
      '\\"AWS/ApiGateway\\",\\"4xx\\"',
      '\\"AWS/ApiGateway\\",\\"5xx\\"',
      '\\"stat\\":\\"p99\\"',
      '\\"stat\\":\\"p50\\"',
      "Invocations",
      "ConsumedWriteCapacityUnits",
      "ThrottledRequests",
      "TimeToLiveDeletedItemCount",
      "stats count(*) as requests by routeKey, status",
      ...Object.values(requestCounts),
      authFailure.metric,
    ]) {
      expect(body, needle).toContain(needle);
    }
    for (const route of allRoutes) expect(body, route.id).toContain(`${route.id}`);
  });
});

describe("other constructs of the stack", () => {
  it("send their alarms to the topic through addAlarm", () => {
    const { template } = synthStack(
      {},
      {
        extend: (stack) => {
          stack.monitoring.addAlarm(
            new Alarm(stack, "Extra", {
              metric: new Metric({ namespace: "Test", metricName: "Extra", period: Duration.minutes(5) }),
              threshold: 1,
              evaluationPeriods: 1,
            }),
          );
        },
      },
    );
    const [topic] = only(resourcesOf(template, "AWS::SNS::Topic"));
    expect(alarmOn("Test", "Extra", {}, template).AlarmActions).toEqual([{ Ref: topic }]);
  });

  it("the events pipeline: DLQ depth and stream iterator age alarms, its function's alarms, its counts", () => {
    // The stack's own pipeline (lib/events-pipeline.ts), which the stack hands to the monitoring.
    const { template, stack } = dev;
    const fn = stack.events.publisher;
    const ids: Record<string, string> = {
      fn: stack.getLogicalId(fn.node.defaultChild as never),
      dlq: stack.getLogicalId(stack.events.deadLetterQueue.node.defaultChild as never),
      logs: stack.getLogicalId(fn.logGroup.node.defaultChild as never),
    };
    const [topic] = only(resourcesOf(template, "AWS::SNS::Topic"));
    const depth = alarmOn(
      "AWS/SQS",
      "ApproximateNumberOfMessagesVisible",
      { QueueName: { "Fn::GetAtt": [ids.dlq, "QueueName"] } },
      template,
    );
    expect(depth).toMatchObject({ Statistic: "Maximum", Threshold: 1, AlarmActions: [{ Ref: topic }] });
    const age = alarmOn("AWS/Lambda", "IteratorAge", { FunctionName: { Ref: ids.fn } }, template);
    expect(age).toMatchObject({
      Statistic: "Maximum",
      Threshold: defaultMonitoringSettings.iteratorAgeSeconds * 1000,
      ComparisonOperator: "GreaterThanThreshold",
      AlarmActions: [{ Ref: topic }],
    });
    for (const metric of ["Errors", "Throttles"]) {
      expect(alarmOn("AWS/Lambda", metric, { FunctionName: { Ref: ids.fn } }, template).AlarmActions).toEqual(
        [{ Ref: topic }],
      );
    }
    const counted = Object.values(resourcesOf(template, "AWS::Logs::MetricFilter"))
      .filter((f) => f.Properties.LogGroupName.Ref === ids.logs)
      .map((f) => `${f.Properties.FilterPattern} ${f.Properties.MetricTransformations[0].MetricName}`);
    expect(counted.sort()).toEqual(
      Object.entries(eventCounts)
        .map(([field, name]) => `{ $.${field} > 0 } ${name}`)
        .sort(),
    );
  });
});
