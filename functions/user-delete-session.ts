import { userRoute } from "./shared/authenticated.ts";
import { SessionNotFound, sessionNotFound } from "./shared/errors.ts";
import { ok } from "./shared/http.ts";
import { sessionIdParam } from "./shared/input.ts";
import { deleteSession } from "./shared/store.ts";

export const handler = userRoute().handler(async (event) => {
  await deleteSession(sessionIdParam(event), { ownerId: event.auth.sub }).catch((error: unknown) => {
    throw error instanceof SessionNotFound ? sessionNotFound("delete") : error;
  });
  return ok("Session deleted successfully");
});
