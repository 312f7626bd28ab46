import { userRoute } from "./shared/authenticated.ts";
import { SessionNotFound, sessionNotFound } from "./shared/errors.ts";
import { counted, ok } from "./shared/http.ts";
import { sessionIdParam } from "./shared/input.ts";
import { deleteSession } from "./shared/store/index.ts";

export const handler = userRoute().handler(async (event) => {
  const { sub } = event.auth;
  await deleteSession(
    sessionIdParam(event),
    { ownerId: sub },
    { reason: "user", actor: { type: "user", sub } },
  ).catch((error: unknown) => {
    throw error instanceof SessionNotFound ? sessionNotFound("delete") : error;
  });
  return counted({ sessionsDeleted: 1 }, ok("Session deleted successfully"));
});
