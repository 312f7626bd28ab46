import { userRoute } from "./shared/authenticated.ts";
import { ok } from "./shared/http.ts";
import { deleteAllUserSessions } from "./shared/store.ts";

export const handler = userRoute().handler(async (event) => {
  await deleteAllUserSessions(event.auth.sub);
  return ok("All sessions deleted successfully");
});
