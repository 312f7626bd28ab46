import { userRoute } from "./shared/authenticated.ts";
import { SessionNotFound, sessionNotFound } from "./shared/errors.ts";
import { counted, ok } from "./shared/http.ts";
import { ownSessionIdParam } from "./shared/input.ts";
import { deactivateSession } from "./shared/store/index.ts";

export const handler = userRoute().handler(async (event) => {
  const id = ownSessionIdParam(event, event.auth.sessionId);
  if (id === undefined) throw sessionNotFound("deactivate");
  await deactivateSession(id, { ownerId: event.auth.sub }).catch((error: unknown) => {
    throw error instanceof SessionNotFound ? sessionNotFound("deactivate") : error;
  });
  return counted({ sessionsDeactivated: 1 }, ok("Session deactivated successfully"));
});
