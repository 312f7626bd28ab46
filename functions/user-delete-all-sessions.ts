import { userRoute } from "./shared/authenticated.ts";
import { counted, ok } from "./shared/http.ts";
import { deleteUserSessions } from "./shared/store/index.ts";

export const handler = userRoute().handler(async (event) => {
  const { sub } = event.auth;
  const deleted = await deleteUserSessions(sub, { reason: "user_all", actor: { type: "user", sub } });
  return counted({ sessionsDeleted: deleted }, ok("All sessions deleted successfully"));
});
