import { adminRoute } from "./shared/authenticated.ts";
import { pageParams, userIdParam } from "./shared/input.ts";
import { pageReply } from "./shared/pages.ts";
import { toResource } from "./shared/resource.ts";
import { listUserSessions } from "./shared/store/index.ts";

export const handler = adminRoute().handler(async (event) => {
  const userId = userIdParam(event);
  const list = `user:${userId}`;
  const page = await listUserSessions(userId, await pageParams(event, list));
  return pageReply(event, list, page, toResource);
});
