import { userRoute } from "./shared/authenticated.ts";
import { ok } from "./shared/http.ts";
import { toResource } from "./shared/resource.ts";
import { listActiveUserSessions } from "./shared/store.ts";

export const handler = userRoute().handler(async (event) => {
  const sessions = await listActiveUserSessions(event.auth.sub);
  return ok("Sessions retrieved successfully", sessions.map(toResource));
});
