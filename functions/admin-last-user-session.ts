import { adminRoute } from "./shared/authenticated.ts";
import { notFound } from "./shared/errors.ts";
import { json } from "./shared/http.ts";
import { userIdParam } from "./shared/input.ts";
import { toResource } from "./shared/resource.ts";
import { lastUserSession } from "./shared/store/index.ts";

export const handler = adminRoute().handler(async (event) => {
  const userId = userIdParam(event);
  const session = await lastUserSession(userId);
  if (!session) throw notFound(`No sessions found for user ${userId}`);
  return json(toResource(session));
});
