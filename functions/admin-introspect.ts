import { introspect } from "./shared/auth.ts";
import { adminRoute } from "./shared/authenticated.ts";
import { json } from "./shared/http.ts";
import { introspectionToken } from "./shared/input.ts";

// RFC 7662 token introspection for backends: never a use of the session it names.
export const handler = adminRoute().handler(async (event) =>
  json(await introspect(introspectionToken(event))),
);
