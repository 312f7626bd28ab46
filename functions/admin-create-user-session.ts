import { adminRoute, json } from "./shared/http.ts";
import { createInput, userIdParam } from "./shared/input.ts";
import { openSession } from "./shared/sessions.ts";

export const handler = adminRoute({ body: true }).handler(async (event) => {
  return json(await openSession(createInput(event.body, userIdParam(event))), 201);
});
