import { adminRoute } from "./shared/authenticated.ts";
import { notFound } from "./shared/errors.ts";
import { json } from "./shared/http.ts";
import { sessionIdParam } from "./shared/input.ts";
import { toResource } from "./shared/resource.ts";
import { getSession } from "./shared/store/index.ts";

export const handler = adminRoute().handler(async (event) => {
  const id = sessionIdParam(event);
  const session = await getSession(id);
  if (!session) throw notFound(`Session with id ${id} not found`);
  return json(toResource(session));
});
