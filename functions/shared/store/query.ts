import { QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import { type IndexName, sessionTable } from "../../../lib/table.ts";
import { serviceUnavailable } from "../errors.ts";
import { call, db, TableName } from "./client.ts";
import { and, type Expression, unexpired } from "./conditions.ts";
import { fromItem, type Session, type SessionItem } from "./items.ts";

// Reading an index partition newest first, with bounded work per request.

/** A key the next page starts after; opaque to callers (see cursor.ts). */
export type PageKey = Record<string, string>;
export interface PageRequest {
  limit: number;
  offset: number;
  startKey?: PageKey | undefined;
}
export interface Page {
  items: Session[];
  limit: number;
  /** Present only when more items may follow. */
  nextKey?: PageKey | undefined;
}

/**
 * Index items one request may evaluate (read, live or not) before it answers what it has. Items
 * DynamoDB's sweeper has not yet removed after their expiry are skipped by the query's filter, but
 * they are still read; this keeps such a backlog from making any request slow or costly.
 */
export const PAGE_BUDGET = 5_000;
/** The largest `Limit` of one round trip; batches grow toward it only while items are being skipped. */
export const MAX_BATCH = 1_000;

export interface ReadOptions {
  /** Filters beyond "live" (the user family lists active sessions only). */
  filter?: Expression | undefined;
  /** Read one item past the page to learn whether another page follows. */
  probeNext?: boolean;
  budget?: number;
}

/**
 * One page of an index partition, newest first. The first round trip asks for just the items the
 * page needs; when the filter skipped some (expired, not yet swept), each further round trip asks for
 * twice as many, up to MAX_BATCH, so a backlog of N expired items costs about log2(N) + N/MAX_BATCH
 * round trips, never one per item. When `budget` items have been evaluated the page is answered
 * short, with a `nextKey` where the reading stopped.
 */
export async function readPage(
  index: IndexName,
  partition: string,
  page: PageRequest,
  now: Date,
  options: ReadOptions = {},
): Promise<Page> {
  const definition = sessionTable.indexes[index];
  const { probeNext = true, budget = PAGE_BUDGET } = options;
  const wanted = page.offset + page.limit + (probeNext ? 1 : 0);
  const filter = options.filter ? and(unexpired(now), options.filter) : unexpired(now);
  const names: Record<string, string> = { ...filter.names, "#pk": definition.partitionKey.name };
  const values: Record<string, unknown> = { ...filter.values, ":pk": partition };
  // A page that resumes from a cursor also bounds the sort key by the cursor's own. DynamoDB reads the
  // same items for the same capacity either way; DynamoDB Local, without the bound, reads the index
  // from its newest item up to the start key (a page 90,000 sessions deep: about 20 ms, 2 ms with it).
  const bound = page.startKey?.[definition.sortKey.name];
  if (bound !== undefined) {
    names["#sk"] = definition.sortKey.name;
    values[":sk"] = bound;
  }
  const found: SessionItem[] = [];
  let startKey: Record<string, unknown> | undefined = page.startKey;
  let evaluated = 0;
  let batch = 0;
  do {
    batch = Math.min(Math.max(wanted - found.length, batch), MAX_BATCH, budget - evaluated);
    const result = await call(() =>
      db.send(
        new QueryCommand({
          TableName,
          IndexName: definition.name,
          KeyConditionExpression: bound === undefined ? "#pk = :pk" : "#pk = :pk AND #sk <= :sk",
          FilterExpression: filter.expression,
          ScanIndexForward: false,
          Limit: batch,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ExclusiveStartKey: startKey,
        }),
      ),
    );
    const items = (result.Items ?? []) as SessionItem[];
    found.push(...items);
    evaluated += result.ScannedCount ?? items.length;
    if (items.length < (result.ScannedCount ?? 0)) batch *= 2;
    startKey = result.LastEvaluatedKey;
  } while (startKey && found.length < wanted && evaluated < budget);

  const items = found.slice(page.offset, page.offset + page.limit);
  const keyOf = (item: SessionItem): PageKey => ({
    id: item.id,
    [definition.partitionKey.name]: partition,
    [definition.sortKey.name]: item.createdAt,
  });
  let nextKey: PageKey | undefined;
  if (found.length > page.offset + page.limit) {
    nextKey = keyOf(items.at(-1) as SessionItem);
  } else if (startKey && found.length < wanted) {
    // The budget ran out: resume where the reading stopped.
    nextKey = keyOf(startKey as unknown as SessionItem);
  }
  return { items: items.map(fromItem), limit: page.limit, nextKey };
}

/** Every page of a query, one after the other (for reads that need the whole partition). */
export async function* everyPage<T>(input: QueryCommandInput): AsyncGenerator<T[]> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const result = await call(() => db.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey })));
    yield (result.Items ?? []) as T[];
    startKey = result.LastEvaluatedKey;
  } while (startKey);
}

/** Items `/last` may evaluate: 10,000 expired, unswept sessions newer than the live one take well under a second. */
export const LAST_BUDGET = 50_000;

/** The newest live session of a partition; 503 if an unswept backlog exceeds LAST_BUDGET. */
export async function newest(index: IndexName, partition: string, now: Date): Promise<Session | undefined> {
  const page = await readPage(index, partition, { limit: 1, offset: 0 }, now, {
    probeNext: false,
    budget: LAST_BUDGET,
  });
  if (page.items.length === 0 && page.nextKey) {
    throw serviceUnavailable(new Error(`more than ${LAST_BUDGET} expired items to skip in ${partition}`));
  }
  return page.items[0];
}
