import { userRoute } from "./shared/authenticated.ts";
import { ok } from "./shared/http.ts";
import { MAX_LIMIT, pageParams } from "./shared/input.ts";
import { nextPageHeaders } from "./shared/pages.ts";
import { toUserResource } from "./shared/resource.ts";
import { listActiveUserSessions } from "./shared/store/index.ts";

export const handler = userRoute().handler(async (event) => {
  // The caller's own list: a cursor issued to one user never resumes another's.
  const list = `mine:${event.auth.sub}`;
  const page = await listActiveUserSessions(event.auth.sub, await pageParams(event, list, MAX_LIMIT));
  const current = event.auth.session;
  const reply = ok(
    "Sessions retrieved successfully",
    // The current session as this request's credential check read it (its use just recorded).
    page.items.map((session) =>
      toUserResource(session.id === current?.id ? current : session, event.auth.sessionId),
    ),
  );
  const headers = await nextPageHeaders(event, list, page);
  return headers ? { ...reply, headers } : reply;
});
