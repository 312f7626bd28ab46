import { Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import { EventBus } from "aws-cdk-lib/aws-events";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { EventSourceMapping, StartingPosition } from "aws-cdk-lib/aws-lambda";
import { SqsDlq } from "aws-cdk-lib/aws-lambda-event-sources";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { EndpointFunction } from "./endpoint-function.ts";
import type { EventsPipelineWatch } from "./monitoring.ts";

// Lifecycle events on AWS (CONTRACT section 9): the table's stream → the events function → the
// stack's own EventBridge bus. The stream is the outbox: handlers write the table and nothing else.
// A batch that keeps failing is bisected down to the failing record, retried a bounded number of
// times, then recorded in an SQS dead-letter queue (its shard and sequence numbers: the records stay
// in the stream for 24 hours to be replayed) with an alarm on that queue.
//
// The webhook target (context `eventsWebhookUrl`) is a second function on the same stream, not an
// EventBridge API destination: a destination can neither compute a Standard Webhooks signature per
// request nor keep one session's events in order (EventBridge does not order deliveries), while a
// stream consumer does both, with the same bisection, retries and dead-letter queue.

/** The entry both functions run; its publisher is chosen by environment (functions/events.ts). */
export const EVENTS_ENTRY = "functions/events.ts";

/** Stream batch settings shared by both consumers. */
export const streamSettings = {
  batchSize: 100,
  /** Bounded: a record that still fails after this many retries (each bisecting) goes to the DLQ. */
  retryAttempts: 10,
  /** Well inside the stream's 24-hour retention, so a dead-lettered batch can still be read again. */
  maxRecordAge: Duration.hours(6),
} as const;

export interface EventsPipelineProps {
  /** The sessions table; it must have a stream with new and old images (lib/table.ts). */
  readonly table: ITable;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly memoryMb?: number;
  /** Also deliver every event, signed, to this https:// URL (context `eventsWebhookUrl`). */
  readonly webhookUrl?: string | undefined;
  /**
   * The stack's monitoring (lib/monitoring.ts): when given, it watches the pipeline (the DLQ depth
   * alarm, the stream's iterator age, the function's errors and throttles, the dashboard row, the
   * counts of the function's log lines) and the pipeline makes no alarm of its own.
   */
  readonly monitoring?: { watchEventsPipeline(watch: EventsPipelineWatch): unknown } | undefined;
  /** Without `monitoring`: where the pipeline's own DLQ alarm notifies, when given. */
  readonly alarmTopic?: ITopic | undefined;
  /** Active X-Ray tracing of the functions (as the routes'; default on). */
  readonly tracing?: boolean | undefined;
}

export class EventsPipeline extends Construct {
  readonly bus: EventBus;
  readonly deadLetterQueue: Queue;
  /** The pipeline's own DLQ alarm, made when no `monitoring` watches it. */
  readonly deadLetterAlarm?: Alarm;
  /** The events function: stream → bus. */
  readonly publisher: EndpointFunction;
  /** The webhook target's delivery function and its signing secret, with `webhookUrl`. */
  readonly webhook?: { fn: EndpointFunction; secret: Secret };

  constructor(scope: Construct, id: string, props: EventsPipelineProps) {
    super(scope, id);
    const streamArn = props.table.tableStreamArn;
    if (!streamArn) throw new Error("EventsPipeline needs a table with a stream (lib/table.ts)");

    this.bus = new EventBus(this, "Bus", {
      description: "Lifecycle events of the sessions service: source sessions, detail = the CloudEvent",
    });

    this.deadLetterQueue = new Queue(this, "DeadLetters", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is itself the dead-letter destination of the stream's event source mappings; a message that fails here has nowhere further to go, and its alarm is the operator's signal.",
    });

    this.publisher = this.consumer("Publisher", {
      environment: { EVENTS_BUS_NAME: this.bus.eventBusName },
      timeoutSeconds: 30,
      streamArn,
      props,
    });
    this.publisher.addToRolePolicy(
      new PolicyStatement({ actions: ["events:PutEvents"], resources: [this.bus.eventBusArn] }),
    );

    if (props.webhookUrl !== undefined) {
      // Generated at deploy, never in the template. The receiver's key is `whsec_` + the base64 of
      // this value; an operator may also store a `whsec_…` value here (docs/events.md).
      const secret = new Secret(this, "WebhookSecret", {
        description: "Signing key of the sessions service's lifecycle webhooks (Standard Webhooks)",
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
        removalPolicy: props.removalPolicy,
      });
      Validations.of(secret).acknowledge({
        id: "AwsSolutions-SMG4",
        reason:
          "The receiver verifies every webhook with this key; rotating it without a window in which receivers accept both keys would make them refuse every event. Rotate by hand as docs/events.md describes.",
      });
      const fn = this.consumer("WebhookDelivery", {
        environment: { EVENTS_WEBHOOK_URL: props.webhookUrl, EVENTS_WEBHOOK_SECRET_ARN: secret.secretArn },
        // Retries an undelivered event with backoff for about five minutes per invocation.
        timeoutSeconds: 330,
        streamArn,
        props,
      });
      fn.addToRolePolicy(
        new PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [secret.secretArn] }),
      );
      this.webhook = { fn, secret };
    }

    if (props.monitoring) {
      props.monitoring.watchEventsPipeline({
        fn: this.publisher,
        dlq: this.deadLetterQueue,
        logGroup: this.publisher.logGroup,
      });
      return;
    }
    this.deadLetterAlarm = new Alarm(this, "DeadLettersAlarm", {
      alarmDescription:
        "Lifecycle events could not be published after retries: the DLQ message names the shard and sequence numbers to replay (docs/events.md)",
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: "Maximum",
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) this.deadLetterAlarm.addAlarmAction(new SnsAction(props.alarmTopic));
  }

  /**
   * A function fed by the table's stream. Its role may read that stream (the three calls Lambda's
   * poller makes on the stream's ARN; `ListStreams` has no resource-level permission and the mapping,
   * which names the stream, does not need it) and send to the dead-letter queue; it gets no table
   * action at all.
   */
  private consumer(
    id: string,
    options: {
      environment: Record<string, string>;
      timeoutSeconds: number;
      streamArn: string;
      props: EventsPipelineProps;
    },
  ): EndpointFunction {
    const fn = new EndpointFunction(this, id, {
      entry: EVENTS_ENTRY,
      environment: options.environment,
      memoryMb: options.props.memoryMb,
      timeoutSeconds: options.timeoutSeconds,
      tracing: options.props.tracing,
      logRetention: options.props.logRetention,
      removalPolicy: options.props.removalPolicy,
    });
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
        resources: [options.streamArn],
      }),
    );
    const mapping = new EventSourceMapping(this, `${id}Stream`, {
      target: fn,
      eventSourceArn: options.streamArn,
      startingPosition: StartingPosition.TRIM_HORIZON,
      batchSize: streamSettings.batchSize,
      // One poller per shard (the default factor of 1): a session's records stay in order.
      parallelizationFactor: 1,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      retryAttempts: streamSettings.retryAttempts,
      maxRecordAge: streamSettings.maxRecordAge,
      onFailure: new SqsDlq(this.deadLetterQueue),
    });
    // Lambda checks the role when the mapping is created: the role's policy must exist first.
    if (fn.role) mapping.node.addDependency(fn.role);
    return fn;
  }
}
