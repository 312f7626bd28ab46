import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { FEED_SHARDS, feedPartitions, firstShare, sessionTable } from "../../../lib/table.ts";
import { badRequest } from "../errors.ts";
import { call, db, TableName } from "./client.ts";
import { unexpired } from "./conditions.ts";
import { fromItem, type SessionItem } from "./items.ts";
import { MAX_BATCH, PAGE_BUDGET, type Page, type PageKey, type PageRequest } from "./query.ts";

// The all-sessions feed, newest first, merged from its write shards (see FEED_SHARDS in lib/table.ts).
// Each shard is read newest first with its own ExclusiveStartKey, and the merge always takes the
// newest head among the shards (ties in createdAt: the lower shard first), so the order is exact and a
// walk through the cursors sees every item once: the cursor carries every shard's own position.

const index = sessionTable.indexes.byCreated;
const SEP = "|";
/**
 * The cursor's high-water mark: the `createdAt` of the last session handed out. A shard the walk has
 * taken nothing from yet resumes at or below it, so sessions created after the walk began (newer
 * than everything it has shown) never appear behind older ones.
 */
const MARK = "at";

interface Shard {
  partition: string;
  /** Where this page started reading the shard: undefined = its newest item. */
  from: SessionItem | undefined;
  buffer: SessionItem[];
  /** The last item the page took from this shard. */
  taken: SessionItem | undefined;
  startKey: Record<string, unknown> | undefined;
  done: boolean;
  batch: number;
}

/**
 * One page of the feed. The first round trip asks each shard for a little more than its share of the page; a
 * shard that runs dry while the merge still needs items is asked again for twice as many (expired,
 * unswept items are skipped the same way, in doubling batches), and the whole page stops at
 * PAGE_BUDGET evaluated items, answering short with the positions reached.
 */
export async function readFeed(page: PageRequest, now: Date, shards: number = FEED_SHARDS): Promise<Page> {
  const { [MARK]: mark, ...positions } =
    page.startKey ?? Object.fromEntries(feedPartitions(shards).map((p) => [p, ""]));
  if (mark !== undefined && !ISO.test(mark)) throw badRequest("cursor is not a valid cursor for this list");
  const share = firstShare(page.offset + page.limit, shards);
  const state: Shard[] = Object.entries(positions).map(([partition, position]) => {
    const from = parsePosition(partition, position, shards);
    return {
      partition,
      from,
      buffer: [],
      taken: undefined,
      startKey: from && keyOf(from),
      done: false,
      batch: Math.min(share, MAX_BATCH),
    };
  });
  const filter = unexpired(now);
  let evaluated = 0;

  const fetch = async (shard: Shard, allowance: number) => {
    const names: Record<string, string> = { ...filter.names, "#pk": index.partitionKey.name };
    const values: Record<string, unknown> = { ...filter.values, ":pk": shard.partition };
    // Bounding the sort key by the shard's start keeps newer arrivals out of a walk (and lets DynamoDB
    // Local seek instead of walking from the newest item; the same capacity on DynamoDB).
    const bound = shard.from?.createdAt ?? mark;
    if (bound !== undefined) {
      names["#sk"] = index.sortKey.name;
      values[":sk"] = bound;
    }
    const limit = Math.max(1, Math.min(shard.batch, allowance));
    const result = await call(() =>
      db.send(
        new QueryCommand({
          TableName,
          IndexName: index.name,
          KeyConditionExpression: bound === undefined ? "#pk = :pk" : "#pk = :pk AND #sk <= :sk",
          FilterExpression: filter.expression,
          ScanIndexForward: false,
          Limit: limit,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ExclusiveStartKey: shard.startKey,
        }),
      ),
    );
    const items = (result.Items ?? []) as SessionItem[];
    shard.buffer.push(...items);
    evaluated += result.ScannedCount ?? items.length;
    shard.startKey = result.LastEvaluatedKey;
    shard.done = shard.startKey === undefined;
    shard.batch = Math.min(shard.batch * 2, MAX_BATCH);
  };

  /** Refills every drained shard that has more; false once the budget is spent. */
  const refill = async (): Promise<boolean> => {
    for (;;) {
      const drained = state.filter((shard) => shard.buffer.length === 0 && !shard.done);
      if (drained.length === 0) return true;
      if (evaluated >= PAGE_BUDGET) return false;
      // The shards are read in parallel, so each gets its part of what is left of the budget.
      const allowance = Math.floor((PAGE_BUDGET - evaluated) / drained.length);
      if (allowance < 1) return false;
      await Promise.all(drained.map((shard) => fetch(shard, allowance)));
    }
  };

  const taken: SessionItem[] = [];
  let withinBudget = true;
  while (taken.length < page.offset + page.limit) {
    withinBudget = await refill();
    if (!withinBudget) break;
    const shard = newestHead(state);
    if (!shard) break;
    const item = shard.buffer.shift() as SessionItem;
    shard.taken = item;
    taken.push(item);
  }
  // Whether anything follows: a head left in some shard, or a shard the budget left unread.
  if (withinBudget) withinBudget = await refill();
  const more = state.some((shard) => shard.buffer.length > 0 || !shard.done);
  const items = taken.slice(page.offset);
  return {
    items: items.map(fromItem),
    limit: page.limit,
    nextKey: more ? nextPositions(state, taken.at(-1)?.createdAt ?? mark) : undefined,
  };
}

function newestHead(state: Shard[]): Shard | undefined {
  let best: Shard | undefined;
  for (const shard of state) {
    const head = shard.buffer[0];
    if (head && (!best || head.createdAt > (best.buffer[0] as SessionItem).createdAt)) best = shard;
  }
  return best;
}

/** Each shard resumes after what the page took from it, or after all it read when it took everything it read. */
function nextPositions(state: Shard[], mark: string | undefined): PageKey {
  const positions: PageKey = mark === undefined ? {} : { [MARK]: mark };
  for (const shard of state) {
    if (shard.buffer.length > 0) {
      const last = shard.taken ?? shard.from;
      positions[shard.partition] = last ? position(last) : "";
    } else if (!shard.done) {
      const key = shard.startKey as unknown as SessionItem | undefined;
      positions[shard.partition] = key ? position(key) : "";
    }
  }
  return positions;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const position = (item: Pick<SessionItem, "createdAt" | "id">) => `${item.createdAt}${SEP}${item.id}`;

function keyOf(item: Pick<SessionItem, "createdAt" | "id" | "feed">): Record<string, unknown> {
  return { id: item.id, [index.partitionKey.name]: item.feed, [index.sortKey.name]: item.createdAt };
}

/** A shard position from a cursor (HMAC-checked already): `""` = from the newest, else `createdAt|id`. */
function parsePosition(partition: string, position: string, shards: number): SessionItem | undefined {
  const invalid = () => badRequest("cursor is not a valid cursor for this list");
  if (!/^\d{1,3}$/.test(partition) || Number(partition) >= shards) throw invalid();
  if (position === "") return undefined;
  const [createdAt, id, extra] = position.split(SEP);
  if (!createdAt || !id || extra !== undefined) throw invalid();
  return { id, createdAt, feed: partition } as SessionItem;
}
