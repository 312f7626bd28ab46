import { adminRoute } from "./shared/authenticated.ts";
import { counted, json } from "./shared/http.ts";
import { createInput, userIdParam } from "./shared/input.ts";
import { optionalJsonBody } from "./shared/json-body.ts";
import { openSession } from "./shared/sessions.ts";

export const handler = adminRoute({ body: optionalJsonBody }).handler(async (event) => {
  // One instant for the default expiry and created_at, so a default session lives exactly the TTL.
  const now = new Date();
  const session = await openSession(createInput(event.body, userIdParam(event), now), now, event.auth.sub);
  return counted({ sessionsCreated: 1 }, json(session, 201));
});
