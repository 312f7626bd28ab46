import { encodeCursor } from "./cursor.ts";
import { json, type Reply, type RouteEvent } from "./http.ts";
import type { Page, Session } from "./store/index.ts";

/** A JSON array page, with the next page's link when more items may follow. */
export async function pageReply<T>(
  event: RouteEvent,
  list: string,
  page: Page,
  present: (session: Session) => T,
): Promise<Reply> {
  return json(page.items.map(present), 200, await nextPageHeaders(event, list, page));
}

/** `Link: <…?limit=…&cursor=…>; rel="next"` when more items may follow, else no header. */
export async function nextPageHeaders(
  event: RouteEvent,
  list: string,
  page: Page,
): Promise<Record<string, string> | undefined> {
  if (!page.nextKey) return undefined;
  const query = new URLSearchParams({
    limit: String(page.limit),
    cursor: await encodeCursor(list, page.nextKey),
  });
  return { link: `<${event.rawPath}?${query}>; rel="next"` };
}
