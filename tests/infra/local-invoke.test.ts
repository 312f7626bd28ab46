import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../lib/bundle.ts";
import { devSecret } from "../../lib/dev-secret.ts";
import {
  type DynamoDbLocal,
  ensureTable,
  localClient,
  startDynamoDbLocal,
} from "../../lib/dynamodb-local.ts";
import { LOCAL_INVOKE_VARIABLES } from "../../lib/local-invoke.ts";
import { type Route, routes, usesStore } from "../../lib/routes.ts";
import { successStatus } from "../support/openapi.ts";
import { logicalIdOf, resourcesOf, synthStack } from "./stack-fixture.ts";

// Everything `sam local invoke` needs, up to the sam call itself (it needs Docker): the local synth
// declares the variables SAM's --env-vars must override, the env file sets exactly those, and the
// printed sample events are filled and run through `npm run invoke`.

const work = mkdtempSync(join(tmpdir(), "sessions-local-invoke-"));
const TABLE = "sessions-sam-test";
let dynamo: DynamoDbLocal;

const node = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(join(projectRoot, "node_modules/.bin/node"), args, {
    cwd: projectRoot,
    encoding: "utf8",
    env: { ...process.env, JWT_SECRET: "", LOCAL_DATA_DIR: work, TABLE_NAME: TABLE, ...env },
  });

beforeAll(async () => {
  dynamo = await startDynamoDbLocal({ dataDir: null });
  const client = localClient(dynamo.endpoint);
  await ensureTable(client, TABLE);
  client.destroy();
});
afterAll(async () => {
  await dynamo?.stop();
  rmSync(work, { recursive: true, force: true });
});

function declaredVariables(context: Record<string, string>) {
  const { stack, template } = synthStack(context);
  const functions = resourcesOf(template, "AWS::Lambda::Function");
  return new Map(
    (routes as readonly Route[]).map((route) => [
      route,
      (functions[logicalIdOf(stack, route.id)]?.Properties.Environment?.Variables ?? {}) as Record<
        string,
        unknown
      >,
    ]),
  );
}

describe("cdk synth -c localInvoke=true", () => {
  it("declares, empty, the variables sam's --env-vars must set, in every function that uses the store", () => {
    for (const [route, variables] of declaredVariables({ localInvoke: "true" })) {
      for (const name of LOCAL_INVOKE_VARIABLES) {
        expect(variables[name], `${route.id} ${name}`).toBe(usesStore(route) ? "" : undefined);
      }
      // TABLE_NAME is a Ref, which SAM resolves to the table's logical id: the env file overrides it.
      expect(Object.hasOwn(variables, "TABLE_NAME"), route.id).toBe(usesStore(route));
    }
  });

  it("declares none of them otherwise", () => {
    for (const [route, variables] of declaredVariables({})) {
      for (const name of LOCAL_INVOKE_VARIABLES) expect(variables[name], route.id).toBeUndefined();
    }
  });
});

describe("npm run sam:env", () => {
  it("writes an env-vars file that sets exactly what the local template declares for sam to override", () => {
    const out = join(work, "sam-env.json");
    const result = node(["bin/sam-env.ts", "--endpoint", "http://host.docker.internal:8001", "--out", out]);
    expect(result.status, result.stderr).toBe(0);
    const file = JSON.parse(readFileSync(out, "utf8"));
    expect(Object.keys(file)).toEqual(["Parameters"]);
    expect(file.Parameters).toEqual({
      TABLE_NAME: TABLE,
      JWT_SECRET: devSecret(work),
      DYNAMODB_ENDPOINT: "http://host.docker.internal:8001",
    });
    // SAM ignores a variable a function does not declare: every one set here must be declared.
    for (const [route, variables] of declaredVariables({ localInvoke: "true" })) {
      if (!usesStore(route)) continue;
      for (const name of Object.keys(file.Parameters))
        expect(Object.hasOwn(variables, name), `${route.id} ${name}`).toBe(true);
    }
    expect(statSync(out).mode & 0o077).toBe(0);
  });

  it("names the missing endpoint, with the usage, and exits 2", () => {
    const result = node(["bin/sam-env.ts"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("--endpoint http://host.docker.internal:<port>");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("npm run invoke -- <RouteId> --print-event", () => {
  for (const id of ["AdminGetSession", "UserDeactivateSession", "Health"]) {
    it(`prints ${id}'s sample event filled, which npm run invoke then runs`, () => {
      const printed = node(["bin/invoke.ts", id, "--print-event"], { DYNAMODB_ENDPOINT: dynamo.endpoint });
      expect(printed.status, printed.stderr).toBe(0);
      expect(printed.stdout).not.toContain("{{");
      const event = JSON.parse(printed.stdout);
      expect(event.requestContext.requestId).toMatch(/^Sample/);
      const file = join(work, `${id}.json`);
      writeFileSync(file, printed.stdout);
      const invoked = node(["bin/invoke.ts", id, file], { DYNAMODB_ENDPOINT: dynamo.endpoint });
      expect(invoked.status, invoked.stderr).toBe(0);
      const response = JSON.parse(
        invoked.stdout.slice(invoked.stdout.indexOf("\n", invoked.stdout.indexOf(`--- ${id}`)) + 1),
      );
      expect(response.statusCode).toBe(successStatus(id));
    });
  }
});
