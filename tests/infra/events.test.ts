import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { AttributeType, StreamViewType, Table } from "aws-cdk-lib/aws-dynamodb";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { Topic } from "aws-cdk-lib/aws-sns";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleRoute } from "../../lib/bundle.ts";
import { freePort } from "../../lib/dynamodb-local.ts";
import { EVENTS_ENTRY, EventsPipeline, streamSettings } from "../../lib/events-pipeline.ts";
import { createTableInput, sessionTable } from "../../lib/table.ts";
import { sessionItem, streamRecord } from "../fixtures/stream-records.ts";
import { resourcesOf, synthStack } from "./stack-fixture.ts";

// The events pipeline in the template (CONTRACT section 9): the table's stream, the mapping that
// bisects, reports partial batch failures and dead-letters, the stack's bus, the DLQ's alarm, and
// an events role that may put events on that bus and read that stream, and write nothing else.

const dev = synthStack({ stage: "dev" });
const withWebhook = synthStack({ stage: "dev", eventsWebhookUrl: "https://hooks.example.com/sessions" });

const only = <T>(record: Record<string, T>): [string, T] => {
  const entries = Object.entries(record);
  expect(entries).toHaveLength(1);
  return entries[0] as [string, T];
};
const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const logicalId = (stack: Stack, fn: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(fn.node.defaultChild as CfnFunction);

/** Every "action resource" pair a role is allowed, whatever the statement grouping. */
function grantsOf(template: Template, roleId: string): string[] {
  const pairs: string[] = [];
  for (const policy of Object.values(resourcesOf(template, "AWS::IAM::Policy"))) {
    if (!policy.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId)) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      expect(statement.Effect).toBe("Allow");
      for (const action of list(statement.Action)) {
        for (const resource of list(statement.Resource)) pairs.push(`${action} ${JSON.stringify(resource)}`);
      }
    }
  }
  return pairs.sort();
}

function roleOf(template: Template, functionId: string): string {
  const fn = resourcesOf(template, "AWS::Lambda::Function")[functionId];
  return fn?.Properties.Role["Fn::GetAtt"][0] as string;
}

describe("the table's stream", () => {
  it("carries new and old images, from the one table definition both the stack and npm start use", () => {
    expect(sessionTable.stream).toBe("NEW_AND_OLD_IMAGES");
    const [, table] = only(resourcesOf(dev.template, "AWS::DynamoDB::Table"));
    expect(table.Properties.StreamSpecification).toEqual({ StreamViewType: "NEW_AND_OLD_IMAGES" });
    expect(createTableInput("sessions").StreamSpecification).toEqual({
      StreamEnabled: true,
      StreamViewType: "NEW_AND_OLD_IMAGES",
    });
  });
});

describe("events function and its mapping", () => {
  const [tableId] = only(resourcesOf(dev.template, "AWS::DynamoDB::Table"));
  const [busId] = only(resourcesOf(dev.template, "AWS::Events::EventBus"));
  const [queueId, queue] = only(resourcesOf(dev.template, "AWS::SQS::Queue"));
  const publisherId = logicalId(dev.stack, dev.stack.events.publisher);
  const streamArn = { "Fn::GetAtt": [tableId, "StreamArn"] };
  const queueArn = { "Fn::GetAtt": [queueId, "Arn"] };
  const busArn = { "Fn::GetAtt": [busId, "Arn"] };

  it("reads the stream with bisection, partial batch responses, bounded retries and the DLQ on failure", () => {
    const [, mapping] = only(resourcesOf(dev.template, "AWS::Lambda::EventSourceMapping"));
    expect(mapping.Properties).toEqual({
      EventSourceArn: streamArn,
      FunctionName: { Ref: publisherId },
      StartingPosition: "TRIM_HORIZON",
      BatchSize: streamSettings.batchSize,
      ParallelizationFactor: 1,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      MaximumRetryAttempts: streamSettings.retryAttempts,
      MaximumRecordAgeInSeconds: streamSettings.maxRecordAge.toSeconds(),
      DestinationConfig: { OnFailure: { Destination: queueArn } },
    });
    expect(streamSettings.retryAttempts).toBeGreaterThan(0);
    expect(streamSettings.maxRecordAge.toHours()).toBeLessThan(24);
  });

  it("is created after its role may read the stream (Lambda checks it then)", () => {
    const [, mapping] = only(resourcesOf(dev.template, "AWS::Lambda::EventSourceMapping")) as [
      string,
      { DependsOn?: string[] },
    ];
    const roleId = roleOf(dev.template, publisherId);
    // The role's own policy, which grants the stream's reads (the shared X-Ray policy does not).
    const policies = Object.entries(resourcesOf(dev.template, "AWS::IAM::Policy"))
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId))
      .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes("dynamodb:GetRecords"))
      .map(([id]) => id);
    expect(policies).toHaveLength(1);
    expect(mapping.DependsOn).toEqual(expect.arrayContaining([roleId, ...policies]));
  });

  it("runs Node.js 24 on arm64 and publishes to the stack's own bus", () => {
    const fn = resourcesOf(dev.template, "AWS::Lambda::Function")[publisherId];
    expect(fn?.Properties).toMatchObject({
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Handler: "index.handler",
    });
    expect(fn?.Properties.Environment.Variables).toEqual({
      EVENTS_BUS_NAME: { Ref: busId },
      POWERTOOLS_LOGGER_LOG_EVENT: "false",
    });
  });

  it("has a role of its own: PutEvents on that bus only, the stream's reads, the DLQ, its log group; no table action", () => {
    const roleId = roleOf(dev.template, publisherId);
    const routeRoles = [...dev.stack.functions.values()].map((fn) =>
      roleOf(dev.template, logicalId(dev.stack, fn)),
    );
    expect(routeRoles).not.toContain(roleId);
    const logGroup = {
      "Fn::GetAtt": [
        resourcesOf(dev.template, "AWS::Lambda::Function")[publisherId]?.Properties.LoggingConfig.LogGroup
          .Ref,
        "Arn",
      ],
    };
    expect(grantsOf(dev.template, roleId)).toEqual(
      [
        `events:PutEvents ${JSON.stringify(busArn)}`,
        `dynamodb:DescribeStream ${JSON.stringify(streamArn)}`,
        `dynamodb:GetRecords ${JSON.stringify(streamArn)}`,
        `dynamodb:GetShardIterator ${JSON.stringify(streamArn)}`,
        `sqs:SendMessage ${JSON.stringify(queueArn)}`,
        `sqs:GetQueueAttributes ${JSON.stringify(queueArn)}`,
        `sqs:GetQueueUrl ${JSON.stringify(queueArn)}`,
        `logs:CreateLogStream ${JSON.stringify(logGroup)}`,
        `logs:PutLogEvents ${JSON.stringify(logGroup)}`,
        // Active tracing, as every function of the stack (the stack's one X-Ray policy).
        'xray:PutTelemetryRecords "*"',
        'xray:PutTraceSegments "*"',
      ].sort(),
    );
    const role = resourcesOf(dev.template, "AWS::IAM::Role")[roleId];
    expect(role?.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role?.Properties.Policies).toBeUndefined();
  });

  it("grants PutEvents nowhere else, and on no other bus", () => {
    const holders = Object.values(resourcesOf(dev.template, "AWS::IAM::Policy")).filter((policy) =>
      JSON.stringify(policy.Properties.PolicyDocument).includes("events:PutEvents"),
    );
    expect(holders).toHaveLength(1);
    expect(holders[0]?.Properties.Roles).toEqual([{ Ref: roleOf(dev.template, publisherId) }]);
    const text = JSON.stringify(resourcesOf(dev.template, "AWS::IAM::Policy"));
    expect(text).not.toContain("events:*");
  });

  it("keeps the dead letters encrypted, TLS only, for 14 days", () => {
    expect(queue.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 86_400,
    });
    const [, policy] = only(resourcesOf(dev.template, "AWS::SQS::QueuePolicy"));
    expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({
        Effect: "Deny",
        Condition: { Bool: { "aws:SecureTransport": "false" } },
        Resource: queueArn,
      }),
    );
  });

  it("is watched by the stack's monitoring: an alarm to its topic as soon as one batch is in the DLQ", () => {
    const [topicId] = only(resourcesOf(dev.template, "AWS::SNS::Topic"));
    const onQueue = Object.values(resourcesOf(dev.template, "AWS::CloudWatch::Alarm")).filter(
      (alarm) =>
        JSON.stringify(alarm.Properties.Dimensions) ===
        JSON.stringify([{ Name: "QueueName", Value: { "Fn::GetAtt": [queueId, "QueueName"] } }]),
    );
    expect(onQueue).toHaveLength(1);
    expect(onQueue[0]?.Properties).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      EvaluationPeriods: 1,
      TreatMissingData: "notBreaching",
      AlarmActions: [{ Ref: topicId }],
    });
    expect(dev.stack.events.deadLetterAlarm).toBeUndefined();
  });

  it("names the bus and the DLQ in the stack's outputs", () => {
    const outputs = dev.template.toJSON().Outputs;
    expect(outputs.EventBusName.Value).toEqual({ Ref: busId });
    expect(outputs.EventsDeadLetterQueueUrl.Value).toEqual({ Ref: queueId });
    expect(outputs.EventsDeadLetterQueueArn.Value).toEqual(queueArn);
  });
});

describe("the construct on its own", () => {
  it("sends the DLQ alarm to a given topic, and refuses a table without a stream", () => {
    const stack = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Probe");
    const table = new Table(stack, "T", {
      partitionKey: { name: "id", type: AttributeType.STRING },
      stream: StreamViewType.NEW_AND_OLD_IMAGES,
    });
    const topic = new Topic(stack, "Alarms");
    new EventsPipeline(stack, "Events", {
      table,
      logRetention: RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
      alarmTopic: topic,
    });
    const template = Template.fromStack(stack);
    const [, alarm] = only(resourcesOf(template, "AWS::CloudWatch::Alarm"));
    expect(alarm.Properties.AlarmActions).toEqual([
      { Ref: stack.getLogicalId(topic.node.defaultChild as never) },
    ]);

    const plain = new Table(stack, "Plain", { partitionKey: { name: "id", type: AttributeType.STRING } });
    expect(
      () =>
        new EventsPipeline(stack, "Broken", {
          table: plain,
          logRetention: RetentionDays.ONE_WEEK,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
    ).toThrow(/stream/);
  });
});

describe("the webhook target (context eventsWebhookUrl)", () => {
  const { template, stack } = withWebhook;
  const webhook = stack.events.webhook;
  const secretsOf = (t: Template) => resourcesOf(t, "AWS::SecretsManager::Secret");

  it("adds a delivery function on the same stream, with the same bisection, retries and DLQ", () => {
    expect(webhook).toBeDefined();
    const deliveryId = logicalId(stack, webhook?.fn as never);
    const mappings = Object.values(resourcesOf(template, "AWS::Lambda::EventSourceMapping"));
    expect(mappings).toHaveLength(2);
    const mapping = mappings.find((m) => m.Properties.FunctionName.Ref === deliveryId);
    const other = mappings.find((m) => m.Properties.FunctionName.Ref !== deliveryId);
    const { FunctionName: _a, ...settings } = mapping?.Properties ?? {};
    const { FunctionName: _b, ...publisherSettings } = other?.Properties ?? {};
    expect(settings).toEqual(publisherSettings);
  });

  it("signs with a key generated at deploy (never in the template), read by that function alone", () => {
    const deliveryId = logicalId(stack, webhook?.fn as never);
    const secrets = secretsOf(template);
    const webhookSecretId = stack.getLogicalId(webhook?.secret.node.defaultChild as never);
    expect(secrets[webhookSecretId]?.Properties.GenerateSecretString).toEqual({
      PasswordLength: 64,
      ExcludePunctuation: true,
    });
    const fn = resourcesOf(template, "AWS::Lambda::Function")[deliveryId];
    expect(fn?.Properties.Environment.Variables).toEqual({
      EVENTS_WEBHOOK_URL: "https://hooks.example.com/sessions",
      EVENTS_WEBHOOK_SECRET_ARN: { Ref: webhookSecretId },
      POWERTOOLS_LOGGER_LOG_EVENT: "false",
    });
    const grants = grantsOf(template, roleOf(template, deliveryId));
    expect(grants).toContain(`secretsmanager:GetSecretValue ${JSON.stringify({ Ref: webhookSecretId })}`);
    expect(grants.join("\n")).not.toMatch(
      /events:PutEvents|dynamodb:(GetItem|PutItem|UpdateItem|DeleteItem|Query|Batch)/,
    );
    const readers = Object.values(resourcesOf(template, "AWS::IAM::Policy")).filter((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes(JSON.stringify({ Ref: webhookSecretId })),
    );
    expect(readers).toHaveLength(1);
    expect(template.toJSON().Outputs.EventsWebhookSecretArn.Value).toEqual({ Ref: webhookSecretId });
  });

  it("is absent without the option, and refuses a URL that is not https", () => {
    expect(dev.stack.events.webhook).toBeUndefined();
    expect(Object.keys(secretsOf(dev.template))).toHaveLength(1);
    expect(() => synthStack({ eventsWebhookUrl: "http://hooks.example.com/sessions" })).toThrow(
      /eventsWebhookUrl/,
    );
    expect(() => synthStack({ eventsWebhookUrl: "not a url" })).toThrow(/eventsWebhookUrl/);
  });
});

describe("no events role writes the table", () => {
  for (const [name, synth] of [
    ["without the webhook", dev],
    ["with the webhook", withWebhook],
  ] as const) {
    it(name, () => {
      const [tableId] = only(resourcesOf(synth.template, "AWS::DynamoDB::Table"));
      const functions = [synth.stack.events.publisher, synth.stack.events.webhook?.fn].filter(
        (fn) => fn !== undefined,
      );
      for (const fn of functions) {
        const grants = grantsOf(synth.template, roleOf(synth.template, logicalId(synth.stack, fn)));
        const onTable = grants.filter((grant) => grant.includes(`"Fn::GetAtt":["${tableId}","Arn"]`));
        expect(onTable).toEqual([]);
        expect(grants.join("\n")).not.toMatch(
          /dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems)/,
        );
      }
    });
  }
});

interface Call {
  target: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A loopback stand-in for AWS endpoints and the webhook receiver: records each call, answers `reply`. */
async function standIn(reply: (call: Call) => { status: number; body: unknown }) {
  const calls: Call[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      const call = { target: req.headers["x-amz-target"] as string | undefined, headers: req.headers, body };
      calls.push(call);
      const answer = reply(call);
      res.writeHead(answer.status, { "content-type": "application/x-amz-json-1.1" });
      res.end(JSON.stringify(answer.body));
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Runs the bundle's handler on one batch in a fresh Node process, as Lambda would; its result. */
function invokeBundle(file: string, event: unknown, env: Record<string, string>): Promise<unknown> {
  const script = `const { handler } = await import(${JSON.stringify(`file://${file}`)});
    const result = await handler(${JSON.stringify(event)}, { getRemainingTimeInMillis: () => 30000 });
    console.log(JSON.stringify(result));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: {
        PATH: process.env.PATH,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "test",
        AWS_SECRET_ACCESS_KEY: "test",
        POWERTOOLS_LOG_LEVEL: "ERROR",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on("exit", (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split("\n").at(-1) as string))
        : reject(new Error(`exit ${code}: ${err}`)),
    );
  });
}

describe("the bundled events function", () => {
  let work: string;
  let bundled: ReturnType<typeof bundleRoute>;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "sessions-events-bundle-"));
    bundled = bundleRoute({ id: "Events", entry: EVENTS_ENTRY }, work);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const batch = {
    Records: [
      streamRecord({ eventName: "INSERT", newItem: sessionItem({ id: "bundled-1" }), eventID: "rec-1" }),
    ],
  };

  it("fits the bundle budget and publishes a stream batch through EventBridge's PutEvents (a loopback stand-in)", async () => {
    const built = await bundled;
    expect(built.bytes).toBeLessThan(256 * 1024);
    const aws = await standIn(() => ({
      status: 200,
      body: { FailedEntryCount: 0, Entries: [{ EventId: "e-1" }] },
    }));
    try {
      const result = await invokeBundle(built.file, batch, {
        EVENTS_BUS_NAME: "sessions-bus",
        AWS_ENDPOINT_URL_EVENTBRIDGE: aws.url,
      });
      expect(result).toEqual({ batchItemFailures: [] });
      expect(aws.calls.map((call) => call.target)).toEqual(["AWSEvents.PutEvents"]);
      const [entry] = JSON.parse(aws.calls[0]?.body as string).Entries;
      expect(entry).toMatchObject({
        EventBusName: "sessions-bus",
        Source: "sessions",
        DetailType: "session.created",
      });
      expect(JSON.parse(entry.Detail)).toMatchObject({
        id: "rec-1",
        subject: "bundled-1",
        type: "session.created",
      });
    } finally {
      await aws.close();
    }
  });

  it("as the webhook target, reads the stack's generated key from Secrets Manager and POSTs the event signed with it", async () => {
    const built = await bundled;
    const key = "k".repeat(64);
    const aws = await standIn((call) =>
      call.target === "secretsmanager.GetSecretValue"
        ? { status: 200, body: { SecretString: key } }
        : { status: 204, body: "" },
    );
    try {
      const result = await invokeBundle(built.file, batch, {
        EVENTS_WEBHOOK_URL: `${aws.url}/hooks`,
        EVENTS_WEBHOOK_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-AbCdEf",
        AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      });
      expect(result).toEqual({ batchItemFailures: [] });
      expect(aws.calls.map((call) => call.target ?? "webhook")).toEqual([
        "secretsmanager.GetSecretValue",
        "webhook",
      ]);
      const post = aws.calls[1] as Call;
      expect(post.headers["content-type"]).toBe("application/cloudevents+json");
      // What the receiver configures: whsec_ + the base64 of the stored value (docs/events.md).
      const receiver = new Webhook(`whsec_${Buffer.from(key).toString("base64")}`);
      expect(receiver.verify(post.body, post.headers as Record<string, string>)).toMatchObject({
        id: "rec-1",
      });
    } finally {
      await aws.close();
    }
  });
});
