import { userRoute } from "./shared/authenticated.ts";
import { counted, ok } from "./shared/http.ts";
import { deleteAllUserSessions } from "./shared/store.ts";

export const handler = userRoute().handler(async (event) => {
  const deleted = await deleteAllUserSessions(event.auth.sub);
  return counted({ sessionsDeleted: deleted }, ok("All sessions deleted successfully"));
});
