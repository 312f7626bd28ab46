import { userRoute } from "./shared/authenticated.ts";
import { badRequest } from "./shared/errors.ts";
import { counted, ok } from "./shared/http.ts";
import { deleteScopeParam } from "./shared/input.ts";
import { deleteUserSessions } from "./shared/store/index.ts";

export const handler = userRoute().handler(async (event) => {
  const { sub, sessionId } = event.auth;
  if (deleteScopeParam(event) === "all") {
    const deleted = await deleteUserSessions(sub, { reason: "user_all", actor: { type: "user", sub } });
    return counted({ sessionsDeleted: deleted }, ok("All sessions deleted successfully", { deleted }));
  }
  if (sessionId === undefined) {
    throw badRequest("scope=others needs a credential bound to a session (a session's token)");
  }
  const deleted = await deleteUserSessions(sub, {
    reason: "user_others",
    actor: { type: "user", sub },
    exceptId: sessionId,
  });
  return counted({ sessionsDeleted: deleted }, ok("Other sessions deleted successfully", { deleted }));
});
