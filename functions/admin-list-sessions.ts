import { adminRoute } from "./shared/authenticated.ts";
import { pageParams } from "./shared/input.ts";
import { pageReply } from "./shared/pages.ts";
import { withUser } from "./shared/resource.ts";
import { listSessions } from "./shared/store/index.ts";

export const handler = adminRoute().handler(async (event) => {
  const page = await listSessions(await pageParams(event, "all"));
  return pageReply(event, "all", page, withUser);
});
