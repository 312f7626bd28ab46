import { userRoute } from "./shared/authenticated.ts";
import { SessionNotFound, sessionNotFound } from "./shared/errors.ts";
import { counted, ok } from "./shared/http.ts";
import { ownSessionIdParam } from "./shared/input.ts";
import { deleteSession } from "./shared/store/index.ts";

export const handler = userRoute().handler(async (event) => {
  const { sub, sessionId } = event.auth;
  const id = ownSessionIdParam(event, sessionId);
  if (id === undefined) throw sessionNotFound("delete");
  await deleteSession(id, { ownerId: sub }, { reason: "user", actor: { type: "user", sub } }).catch(
    (error: unknown) => {
      throw error instanceof SessionNotFound ? sessionNotFound("delete") : error;
    },
  );
  return counted({ sessionsDeleted: 1 }, ok("Session deleted successfully"));
});
