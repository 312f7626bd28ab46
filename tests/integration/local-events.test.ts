import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ensureTable, localClient } from "../../lib/dynamodb-local.ts";
import { ensureStream } from "../../lib/local-events.ts";
import { TtlSweeper } from "../../lib/local-ttl.ts";
import { createTableInput } from "../../lib/table.ts";

// npm start's events settings and the stream of a table made before events existed, on the shared
// DynamoDB Local.

const client = localClient(inject("dynamoEndpoint"));
const made: string[] = [];
afterAll(async () => {
  for (const TableName of made) await client.send(new DeleteTableCommand({ TableName }));
  client.destroy();
});

async function tableWithout(stream: "none" | "KEYS_ONLY"): Promise<string> {
  const name = `events-${stream.toLowerCase()}-${process.pid}-${Date.now().toString(36)}`;
  const { StreamSpecification: _, ...input } = createTableInput(name);
  await client.send(
    new CreateTableCommand({
      ...input,
      ...(stream === "KEYS_ONLY" && {
        StreamSpecification: { StreamEnabled: true, StreamViewType: "KEYS_ONLY" },
      }),
    }),
  );
  made.push(name);
  return name;
}

describe("the table's stream under npm start", () => {
  it("is enabled, with new and old images, on a table that was made without one; then found as it is", async () => {
    const name = await tableWithout("none");
    expect(
      (await client.send(new DescribeTableCommand({ TableName: name }))).Table?.StreamSpecification,
    ).toBeUndefined();

    const arn = await ensureStream(client, name);

    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" });
    expect(Table?.LatestStreamArn).toBe(arn);
    expect(await ensureStream(client, name)).toBe(arn);
  });

  it("is refused, with the fix, when the table has a stream of another kind", async () => {
    const name = await tableWithout("KEYS_ONLY");
    await expect(ensureStream(client, name)).rejects.toThrow(
      /KEYS_ONLY stream; events need NEW_AND_OLD_IMAGES/,
    );
  });
});

describe("npm start's events settings", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sessions-events-settings-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const start = (env: Record<string, string>) =>
    spawnSync(process.execPath, ["bin/local.ts"], {
      env: { ...process.env, LOCAL_DATA_DIR: dir, PORT: "1", ...env },
      encoding: "utf8",
      timeout: 30_000,
    });

  for (const [name, env, message] of [
    [
      "a secret without whsec_",
      { EVENTS_WEBHOOK_URL: "http://127.0.0.1:9/hook", EVENTS_WEBHOOK_SECRET: "plain-secret-0123456789" },
      /^EVENTS_WEBHOOK_SECRET must be whsec_/,
    ],
    [
      "a secret that is not base64",
      { EVENTS_WEBHOOK_URL: "http://127.0.0.1:9/hook", EVENTS_WEBHOOK_SECRET: "whsec_not*base64" },
      /^EVENTS_WEBHOOK_SECRET: the part after whsec_ is not base64/,
    ],
    [
      "a URL that is not http(s)",
      { EVENTS_WEBHOOK_URL: "ftp://127.0.0.1/hook" },
      /^EVENTS_WEBHOOK_URL must be/,
    ],
  ] as const) {
    it(`stops at once on ${name}: one line, status 1, nothing started`, () => {
      const result = start(env);
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr.trim()).toMatch(message);
      expect(result.stdout).toBe("");
    });
  }
});

describe("npm start's TTL sweeper", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sessions-ttl-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("deletes what has expired (token and cap items included), keeps the rest, and says which it swept", async () => {
    const name = `events-ttl-${process.pid}-${Date.now().toString(36)}`;
    await ensureTable(client, name);
    made.push(name);
    const now = Math.floor(Date.now() / 1000);
    const items = {
      expired: {
        id: "s-expired",
        userId: "u",
        feed: "1",
        createdAt: "2026-01-01T00:00:00.000Z",
        ttl: now - 5,
      },
      token: { id: "token#abc", sessionId: "s-expired", ttl: now - 5 },
      cap: { id: "user#u", version: 1, ttl: now - 5 },
      live: { id: "s-live", userId: "u", feed: "2", createdAt: "2026-01-02T00:00:00.000Z", ttl: now + 3_600 },
    };
    for (const item of Object.values(items)) {
      await client.send(new PutItemCommand({ TableName: name, Item: marshall(item) }));
    }
    const sweeper = new TtlSweeper({ client, tableName: name, journalFile: join(dir, "swept.json") });

    expect(await sweeper.sweep()).toBe(3);

    const exists = async (id: string) =>
      (
        await client.send(
          new GetItemCommand({ TableName: name, Key: { id: { S: id } }, ConsistentRead: true }),
        )
      ).Item !== undefined;
    expect(await exists("s-expired")).toBe(false);
    expect(await exists("token#abc")).toBe(false);
    expect(await exists("user#u")).toBe(false);
    expect(await exists("s-live")).toBe(true);
    expect(sweeper.swept("s-expired", now - 5)).toBe(true);
    expect(sweeper.swept("s-expired", now - 4)).toBe(false);
    expect(sweeper.swept("s-live", now + 3_600)).toBe(false);
    // The journal outlives a restart, until the poller has handed the REMOVEs' events on.
    const again = new TtlSweeper({ client, tableName: name, journalFile: join(dir, "swept.json") });
    expect(again.swept("user#u", now - 5)).toBe(true);
    again.forget(["s-expired", "token#abc", "user#u"]);
    expect(
      new TtlSweeper({ client, tableName: name, journalFile: join(dir, "swept.json") }).swept(
        "user#u",
        now - 5,
      ),
    ).toBe(false);
  });
});
