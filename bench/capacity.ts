import type { ConsumedCapacity, DynamoDBClient } from "@aws-sdk/client-dynamodb";

// Consumed capacity of whatever runs on a client, the real handlers included: a middleware on the
// client's own stack asks every command for ReturnConsumedCapacity INDEXES while a measurement is
// open, and keeps what each response reports. The store's code is not touched.

export interface CommandCapacity {
  command: string;
  /** Read or write units, as DynamoDB Local reports them (it gives one total per table or index). */
  kind: "read" | "write";
  table: number;
  indexes: Record<string, number>;
  total: number;
}

export interface CapacityTotals {
  calls: number;
  commands: string[];
  read: number;
  write: number;
  table: number;
  indexes: Record<string, number>;
  total: number;
}

const READS = /^(Get|BatchGet|Query|Scan|TransactGet)/;

export class CapacityRecorder {
  private records: CommandCapacity[] | undefined;

  constructor(client: DynamoDBClient) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const records = this.records;
        if (!records) return next(args);
        const input = { ...(args.input as object), ReturnConsumedCapacity: "INDEXES" };
        const result = await next({ ...args, input });
        const command = String(context.commandName ?? "").replace(/Command$/, "");
        const consumed = (result.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] })
          .ConsumedCapacity;
        for (const entry of [consumed ?? []].flat()) {
          const indexes: Record<string, number> = {};
          for (const [name, value] of Object.entries({
            ...entry.GlobalSecondaryIndexes,
            ...entry.LocalSecondaryIndexes,
          })) {
            indexes[name] = value.CapacityUnits ?? 0;
          }
          records.push({
            command,
            kind: READS.test(command) ? "read" : "write",
            table: entry.Table?.CapacityUnits ?? 0,
            indexes,
            total: entry.CapacityUnits ?? 0,
          });
        }
        return result;
      },
      { step: "initialize", name: "benchConsumedCapacity", override: true },
    );
  }

  /** Runs `fn` and returns what every DynamoDB call made meanwhile consumed. */
  async measure<T>(fn: () => Promise<T>): Promise<{ value: T; capacity: CapacityTotals }> {
    const records: CommandCapacity[] = [];
    this.records = records;
    try {
      const value = await fn();
      return { value, capacity: totals(records) };
    } finally {
      this.records = undefined;
    }
  }
}

export function totals(records: readonly CommandCapacity[]): CapacityTotals {
  const sum: CapacityTotals = { calls: 0, commands: [], read: 0, write: 0, table: 0, indexes: {}, total: 0 };
  for (const r of records) {
    sum.calls++;
    sum.commands.push(r.command);
    sum[r.kind] += r.total;
    sum.table += r.table;
    sum.total += r.total;
    for (const [name, value] of Object.entries(r.indexes))
      sum.indexes[name] = (sum.indexes[name] ?? 0) + value;
  }
  return sum;
}

/** `GetItem, Query×2` */
export function commandList(commands: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const c of commands) counts.set(c, (counts.get(c) ?? 0) + 1);
  return [...counts].map(([c, n]) => (n > 1 ? `${c}×${n}` : c)).join(", ") || "none";
}
