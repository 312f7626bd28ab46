import { Match } from "aws-cdk-lib/assertions";
import { afterAll, describe, expect, it } from "vitest";
import { functionDefaults, type Route, routes, usesStore } from "../../lib/routes.ts";
import { sessionTable } from "../../lib/table.ts";
import { logicalIdOf, removeSynthOutput, resourcesOf, synthStack } from "./stack-fixture.ts";

const allRoutes = routes as readonly Route[];
afterAll(removeSynthOutput);
const dev = synthStack({ stage: "dev" });
const prod = synthStack({ stage: "prod" });

const only = <T>(record: Record<string, T>): [string, T] => {
  const entries = Object.entries(record);
  expect(entries).toHaveLength(1);
  return entries[0] as [string, T];
};
const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

describe("functions", () => {
  it("makes exactly one function per route, each Node.js 24 on arm64 with the ESM bundle's handler", () => {
    const functions = resourcesOf(dev.template, "AWS::Lambda::Function");
    // Plus the events function (tests/infra/events.test.ts).
    expect(Object.keys(functions)).toHaveLength(allRoutes.length + 1);
    for (const route of allRoutes) {
      const props = functions[logicalIdOf(dev.stack, route.id)]?.Properties;
      expect(props, route.id).toMatchObject({
        Runtime: "nodejs24.x",
        Architectures: ["arm64"],
        Handler: "index.handler",
        Timeout: functionDefaults.timeoutSeconds,
        MemorySize: functionDefaults.memoryMb,
      });
    }
  });

  it("keeps the timeout under API Gateway's 30 s integration limit", () => {
    expect(functionDefaults.timeoutSeconds).toBeLessThan(30);
  });

  it("takes memory from context", () => {
    const { template } = synthStack({ memoryMb: "1024" });
    const functions = Object.values(resourcesOf(template, "AWS::Lambda::Function"));
    expect(new Set(functions.map((f) => f.Properties.MemorySize))).toEqual(new Set([1024]));
  });

  it("passes the table name and the secret's ARN, never the secret, merged with the construct's defaults", () => {
    const [secretId] = only(resourcesOf(dev.template, "AWS::SecretsManager::Secret"));
    const [tableId] = only(resourcesOf(dev.template, "AWS::DynamoDB::Table"));
    const functions = resourcesOf(dev.template, "AWS::Lambda::Function");
    for (const route of allRoutes) {
      const variables = functions[logicalIdOf(dev.stack, route.id)]?.Properties.Environment.Variables;
      expect(variables, route.id).toEqual({
        ...(usesStore(route) && { TABLE_NAME: { Ref: tableId }, JWT_SECRET_ARN: { Ref: secretId } }),
        POWERTOOLS_LOGGER_LOG_EVENT: "false",
      });
    }
    // Only the health check and the docs go without: they neither authenticate nor read the table.
    expect(allRoutes.filter((route) => !usesStore(route)).map((route) => route.id)).toEqual([
      "Health",
      "Docs",
      "DocsAsset",
      "OpenApiDocument",
    ]);
  });

  it("passes JWKS_URL, JWT_ISSUER and JWT_AUDIENCE when the context sets them", () => {
    const { template, stack } = synthStack({
      jwksUrl: "https://id.example.com/.well-known/jwks.json",
      jwtIssuer: "https://id.example.com/",
      jwtAudience: "sessions",
    });
    const functions = resourcesOf(template, "AWS::Lambda::Function");
    for (const route of allRoutes.filter(usesStore)) {
      expect(functions[logicalIdOf(stack, route.id)]?.Properties.Environment.Variables).toMatchObject({
        JWKS_URL: "https://id.example.com/.well-known/jwks.json",
        JWT_ISSUER: "https://id.example.com/",
        JWT_AUDIENCE: "sessions",
      });
    }
  });

  it("gives every function its own log group with a retention, and no logRetention custom resource", () => {
    const logGroups = resourcesOf(dev.template, "AWS::Logs::LogGroup");
    const functions = resourcesOf(dev.template, "AWS::Lambda::Function");
    const used = new Set<string>();
    for (const fn of Object.values(functions)) {
      const ref = fn.Properties.LoggingConfig?.LogGroup?.Ref as string;
      expect(logGroups[ref]?.Properties.RetentionInDays).toBe(14);
      used.add(ref);
    }
    expect(used.size).toBe(Object.keys(functions).length);
    dev.template.resourceCountIs("Custom::LogRetention", 0);
  });
});

describe("HTTP API", () => {
  it("has exactly the route table's route keys, each wired to its own function", () => {
    const apiRoutes = resourcesOf(dev.template, "AWS::ApiGatewayV2::Route");
    const integrations = resourcesOf(dev.template, "AWS::ApiGatewayV2::Integration");
    const keys = Object.values(apiRoutes).map((r) => r.Properties.RouteKey);
    const expected = allRoutes.map((r) => (r.path === "$default" ? "$default" : `${r.method} ${r.path}`));
    expect(keys.sort()).toEqual([...expected].sort());

    for (const route of allRoutes) {
      const key = route.path === "$default" ? "$default" : `${route.method} ${route.path}`;
      const apiRoute = Object.values(apiRoutes).find((r) => r.Properties.RouteKey === key);
      const integrationId = apiRoute?.Properties.Target["Fn::Join"][1][1].Ref as string;
      const integration = integrations[integrationId]?.Properties;
      expect(integration, key).toMatchObject({
        IntegrationType: "AWS_PROXY",
        PayloadFormatVersion: "2.0",
        IntegrationUri: { "Fn::GetAtt": [logicalIdOf(dev.stack, route.id), "Arn"] },
      });
    }
  });

  it("serves one $default stage with JSON access logs, throttling and a log retention", () => {
    const [, stage] = only(resourcesOf(dev.template, "AWS::ApiGatewayV2::Stage"));
    expect(stage.Properties).toMatchObject({
      StageName: "$default",
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
    });
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
    expect(format).toMatchObject({
      requestId: "$context.requestId",
      routeKey: "$context.routeKey",
      status: "$context.status",
      latencyMs: "$context.responseLatency",
    });
    const destination = stage.Properties.AccessLogSettings.DestinationArn["Fn::GetAtt"][0] as string;
    expect(resourcesOf(dev.template, "AWS::Logs::LogGroup")[destination]?.Properties.RetentionInDays).toBe(
      14,
    );
  });

  it("takes throttling and CORS origins from context, and sends no CORS headers without origins", () => {
    expect(only(resourcesOf(dev.template, "AWS::ApiGatewayV2::Api"))[1].Properties.CorsConfiguration).toBe(
      undefined,
    );
    const { template } = synthStack({
      throttleRate: "25",
      throttleBurst: "50",
      corsOrigins: "https://app.example.com, http://localhost:3000",
    });
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 25, ThrottlingBurstLimit: 50 },
    });
    template.hasResourceProperties("AWS::ApiGatewayV2::Api", {
      CorsConfiguration: Match.objectLike({
        AllowOrigins: ["https://app.example.com", "http://localhost:3000"],
        AllowHeaders: ["authorization", "content-type"],
      }),
    });
  });

  it("refuses malformed context values instead of deploying them", () => {
    expect(() => synthStack({ throttleRate: "fast" })).toThrow(/throttleRate/);
    expect(() => synthStack({ corsOrigins: "app.example.com/path" })).toThrow(/corsOrigins/);
    expect(() => synthStack({ stage: "Prod!" })).toThrow(/stage/);
    expect(() => synthStack({ logRetentionDays: "10" })).toThrow(/logRetentionDays/);
    expect(() => synthStack({ jwksUrl: "http://id.example.com/jwks" })).toThrow(/jwksUrl/);
  });

  it("refuses a JWKS URL without both an issuer and an audience: the provider signs for other apps too", () => {
    const jwksUrl = "https://id.example.com/.well-known/jwks.json";
    expect(() => synthStack({ jwksUrl })).toThrow(/jwksUrl is set without jwtIssuer and jwtAudience/);
    expect(() => synthStack({ jwksUrl, jwtIssuer: "https://id.example.com/" })).toThrow(
      /jwksUrl is set without jwtAudience:/,
    );
    expect(() => synthStack({ jwksUrl, jwtAudience: "sessions" })).toThrow(
      /jwksUrl is set without jwtIssuer:/,
    );
    // Issuer and audience alone (HS256 tokens with iss/aud) need no key set.
    expect(() => synthStack({ jwtIssuer: "https://id.example.com/", jwtAudience: "sessions" })).not.toThrow();
  });
});

describe("table", () => {
  it("is built from lib/table.ts: keys, indexes, TTL, on-demand, PITR, encryption, no physical name", () => {
    const [, table] = only(resourcesOf(dev.template, "AWS::DynamoDB::Table"));
    const props = table.Properties;
    expect(props.TableName).toBeUndefined();
    expect(props.KeySchema).toEqual([{ AttributeName: sessionTable.partitionKey.name, KeyType: "HASH" }]);
    expect(props.BillingMode).toBe("PAY_PER_REQUEST");
    expect(props.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(props.TimeToLiveSpecification).toEqual({
      AttributeName: sessionTable.ttlAttribute,
      Enabled: true,
    });
    expect(props.SSESpecification).toEqual({ SSEEnabled: true });
    const indexes = Object.values(sessionTable.indexes).map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey.name, KeyType: "HASH" },
        { AttributeName: index.sortKey.name, KeyType: "RANGE" },
      ],
      Projection: { ProjectionType: "ALL" },
    }));
    expect(props.GlobalSecondaryIndexes).toEqual(indexes);
  });
});

describe("stages", () => {
  const policies = (template: typeof dev.template, type: string) =>
    Object.values(resourcesOf(template, type)).map((r) => (r as { DeletionPolicy?: string }).DeletionPolicy);

  it("dev can be torn down: table, secret and log groups are deleted with the stack", () => {
    const [, table] = only(resourcesOf(dev.template, "AWS::DynamoDB::Table"));
    expect(table.Properties.DeletionProtectionEnabled).toBe(false);
    expect(policies(dev.template, "AWS::DynamoDB::Table")).toEqual(["Delete"]);
    expect(policies(dev.template, "AWS::SecretsManager::Secret")).toEqual(["Delete"]);
    expect(new Set(policies(dev.template, "AWS::Logs::LogGroup"))).toEqual(new Set(["Delete"]));
  });

  it("prod keeps its data: deletion protection and RETAIN, longer log retention", () => {
    const [, table] = only(resourcesOf(prod.template, "AWS::DynamoDB::Table"));
    expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    expect(policies(prod.template, "AWS::DynamoDB::Table")).toEqual(["Retain"]);
    expect(policies(prod.template, "AWS::SecretsManager::Secret")).toEqual(["Retain"]);
    expect(new Set(policies(prod.template, "AWS::Logs::LogGroup"))).toEqual(new Set(["Retain"]));
    const retention = Object.values(resourcesOf(prod.template, "AWS::Logs::LogGroup")).map(
      (g) => g.Properties.RetentionInDays,
    );
    expect(new Set(retention)).toEqual(new Set([90]));
  });
});

describe("least privilege", () => {
  const [tableId] = only(resourcesOf(dev.template, "AWS::DynamoDB::Table"));
  const [secretId] = only(resourcesOf(dev.template, "AWS::SecretsManager::Secret"));
  const tableArn = { "Fn::GetAtt": [tableId, "Arn"] };
  const indexArn = (name: string) => ({ "Fn::Join": ["", [tableArn, `/index/${name}`]] });

  /** Every (action, resource) pair the function's role is allowed, whatever the statement grouping. */
  function grantsOf(routeId: string): string[] {
    const fnId = logicalIdOf(dev.stack, routeId);
    const fn = resourcesOf(dev.template, "AWS::Lambda::Function")[fnId];
    const roleId = fn?.Properties.Role["Fn::GetAtt"][0] as string;
    const role = resourcesOf(dev.template, "AWS::IAM::Role")[roleId];
    expect(role?.Properties.ManagedPolicyArns, `${routeId} has managed policies`).toBeUndefined();
    expect(role?.Properties.Policies).toBeUndefined();
    const pairs: string[] = [];
    for (const policy of Object.values(resourcesOf(dev.template, "AWS::IAM::Policy"))) {
      if (!policy.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId)) continue;
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        expect(statement.Effect).toBe("Allow");
        expect(statement.Condition).toBeUndefined();
        for (const action of list(statement.Action)) {
          for (const resource of list(statement.Resource))
            pairs.push(`${action} ${JSON.stringify(resource)}`);
        }
      }
    }
    return pairs.sort();
  }

  /**
   * What each function may do, written out by hand and never derived from lib/routes.ts: comparing the
   * template with the table it was built from cannot catch an over-grant in that table. Table actions
   * (without the `dynamodb:` prefix), the indexes it may query, and whether it reads the JWT secret.
   * A new route fails below until it has its row here.
   */
  const expectedAccess: Record<string, { table: string[]; query: string[]; secret: boolean }> = {
    Health: { table: [], query: [], secret: false },
    // Creating under the per-user cap: the cap item and candidates (GetItem, PutItem), an eviction's
    // end (UpdateItem, DeleteItem), a user without a cap item read from byUser.
    AdminCreateSession: {
      table: ["DeleteItem", "GetItem", "PutItem", "UpdateItem"],
      query: ["byUser"],
      secret: true,
    },
    AdminIntrospect: { table: ["GetItem"], query: [], secret: true },
    AdminListSessions: { table: ["GetItem"], query: ["byCreated"], secret: true },
    AdminGetSession: { table: ["GetItem"], query: [], secret: true },
    AdminDeleteSession: { table: ["DeleteItem", "GetItem", "UpdateItem"], query: [], secret: true },
    AdminCreateUserSession: {
      table: ["DeleteItem", "GetItem", "PutItem", "UpdateItem"],
      query: ["byUser"],
      secret: true,
    },
    AdminListUserSessions: { table: ["GetItem"], query: ["byUser"], secret: true },
    AdminLastUserSession: { table: ["GetItem"], query: ["byUser"], secret: true },
    AdminDeleteUserSessions: {
      table: ["DeleteItem", "GetItem", "UpdateItem"],
      query: ["byUser"],
      secret: true,
    },
    // A user route records the use of the session behind its credential (UpdateItem, section 8).
    UserListSessions: { table: ["GetItem", "UpdateItem"], query: ["byUser"], secret: true },
    UserCurrentSession: { table: ["GetItem", "UpdateItem"], query: [], secret: true },
    UserDeleteAllSessions: {
      table: ["DeleteItem", "GetItem", "UpdateItem"],
      query: ["byUser"],
      secret: true,
    },
    UserDeleteSession: { table: ["DeleteItem", "GetItem", "UpdateItem"], query: [], secret: true },
    UserDeactivateSession: { table: ["GetItem", "UpdateItem"], query: [], secret: true },
    Docs: { table: [], query: [], secret: false },
    DocsAsset: { table: [], query: [], secret: false },
    OpenApiDocument: { table: [], query: [], secret: false },
    Fallback: { table: ["GetItem"], query: ["byCreated"], secret: true },
  };

  it("has a hand-written expectation for every route, and none for a route that does not exist", () => {
    expect(Object.keys(expectedAccess).sort()).toEqual(allRoutes.map((route) => route.id).sort());
  });

  for (const route of allRoutes) {
    it(`${route.id} may do exactly what its hand-written row says, plus logging and tracing`, () => {
      const row = expectedAccess[route.id];
      if (!row) throw new Error(`no hand-written IAM expectation for ${route.id}: add its row above`);
      const fn = resourcesOf(dev.template, "AWS::Lambda::Function")[logicalIdOf(dev.stack, route.id)];
      const logGroup = { "Fn::GetAtt": [fn?.Properties.LoggingConfig.LogGroup.Ref, "Arn"] };
      const expected = [
        ...row.table.map((action) => `dynamodb:${action} ${JSON.stringify(tableArn)}`),
        ...row.query.map((index) => `dynamodb:Query ${JSON.stringify(indexArn(index))}`),
        ...(row.secret ? [`secretsmanager:GetSecretValue ${JSON.stringify({ Ref: secretId })}`] : []),
        `logs:CreateLogStream ${JSON.stringify(logGroup)}`,
        `logs:PutLogEvents ${JSON.stringify(logGroup)}`,
        'xray:PutTelemetryRecords "*"',
        'xray:PutTraceSegments "*"',
      ].sort();
      expect(grantsOf(route.id)).toEqual(expected);
    });
  }

  it("grants no wildcard action or resource but X-Ray's, in a policy of its own, and never Scan", () => {
    const policies = Object.values(resourcesOf(dev.template, "AWS::IAM::Policy"));
    const tracing = policies.filter((p) => JSON.stringify(p).includes('"*"'));
    expect(tracing).toHaveLength(1);
    // X-Ray's write actions take no resource ARN; nothing else may share their statement or policy.
    expect(tracing[0]?.Properties.PolicyDocument.Statement).toEqual([
      { Action: ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], Effect: "Allow", Resource: "*" },
    ]);
    const text = JSON.stringify(policies.filter((p) => p !== tracing[0]));
    expect(text).not.toMatch(/"[a-z0-9-]+:\*"|"\*"|:\*"/);
    expect(text).not.toContain("dynamodb:Scan");
  });

  it("a read-only route cannot write and a get-by-id route cannot query", () => {
    const grants = grantsOf("AdminGetSession").join("\n");
    expect(grants).not.toMatch(/PutItem|UpdateItem|DeleteItem|BatchWriteItem|Query/);
  });
});

describe("the JWT secret", () => {
  it("is generated by Secrets Manager at deploy time, long and without punctuation", () => {
    const [, secret] = only(resourcesOf(dev.template, "AWS::SecretsManager::Secret"));
    expect(secret.Properties.GenerateSecretString).toEqual({ PasswordLength: 64, ExcludePunctuation: true });
    expect(secret.Properties.SecretString).toBeUndefined();
  });

  it("never appears in the template, even when the synthesizing shell has one", () => {
    const canary = "canary-secret-that-must-not-leak-0123456789abcdef";
    const before = process.env.JWT_SECRET;
    process.env.JWT_SECRET = canary;
    try {
      const { template } = synthStack();
      const text = JSON.stringify(template.toJSON());
      expect(text).not.toContain(canary);
      expect(text).not.toMatch(/"JWT_SECRET"|"SecretString"/);
    } finally {
      if (before === undefined) delete process.env.JWT_SECRET;
      else process.env.JWT_SECRET = before;
    }
  });
});

describe("outputs", () => {
  it("names the API URL, the table, the secret, the alarm topic, the dashboard, the events bus and DLQ", () => {
    const outputs = dev.template.toJSON().Outputs;
    expect(Object.keys(outputs).sort()).toEqual([
      "AlarmTopicArn",
      "ApiUrl",
      "DashboardName",
      "EventBusName",
      "EventsDeadLetterQueueArn",
      "EventsDeadLetterQueueUrl",
      "JwtSecretArn",
      "TableName",
    ]);
    const [tableId] = only(resourcesOf(dev.template, "AWS::DynamoDB::Table"));
    expect(outputs.TableName.Value).toEqual({ Ref: tableId });
    expect(JSON.stringify(outputs.ApiUrl.Value)).toContain("execute-api");
  });
});
