import { userRoute } from "./shared/authenticated.ts";
import { sessionNotFound } from "./shared/errors.ts";
import { ok } from "./shared/http.ts";
import { toUserResource } from "./shared/resource.ts";

// The session behind the caller's credential, as the credential check read it (strongly consistent).
export const handler = userRoute().handler(async (event) => {
  const { session } = event.auth;
  if (!session) throw sessionNotFound("view");
  return ok("Current session retrieved successfully", toUserResource(session, session.id));
});
