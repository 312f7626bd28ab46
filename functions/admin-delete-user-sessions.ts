import { adminRoute } from "./shared/authenticated.ts";
import { counted, json } from "./shared/http.ts";
import { userIdParam } from "./shared/input.ts";
import { deleteUserSessions } from "./shared/store/index.ts";

export const handler = adminRoute().handler(async (event) => {
  const deleted = await deleteUserSessions(userIdParam(event), {
    reason: "admin_user",
    actor: { type: "admin", sub: event.auth.sub },
  });
  return counted({ sessionsDeleted: deleted }, json({ message: "Sessions deleted", deleted }));
});
