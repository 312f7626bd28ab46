import { encodeCursor } from "./cursor.ts";
import { json, type Reply, type RouteEvent } from "./http.ts";
import type { Page, Session } from "./store.ts";

/** A JSON array page; when more items follow, `Link: <…?limit=…&cursor=…>; rel="next"` names the next one. */
export async function pageReply<T>(
  event: RouteEvent,
  list: string,
  page: Page,
  present: (session: Session) => T,
): Promise<Reply> {
  const items = page.items.map(present);
  if (!page.nextKey) return json(items);
  const query = new URLSearchParams({
    limit: String(page.limit),
    cursor: await encodeCursor(list, page.nextKey),
  });
  return json(items, 200, { link: `<${event.rawPath}?${query}>; rel="next"` });
}
