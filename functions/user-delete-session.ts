import { userRoute } from "./shared/authenticated.ts";
import { SessionNotFound, sessionNotFound } from "./shared/errors.ts";
import { counted, ok } from "./shared/http.ts";
import { sessionIdParam } from "./shared/input.ts";
import { deleteSession } from "./shared/store.ts";

export const handler = userRoute().handler(async (event) => {
  await deleteSession(sessionIdParam(event), { ownerId: event.auth.sub }).catch((error: unknown) => {
    throw error instanceof SessionNotFound ? sessionNotFound("delete") : error;
  });
  return counted({ sessionsDeleted: 1 }, ok("Session deleted successfully"));
});
