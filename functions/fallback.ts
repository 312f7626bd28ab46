import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { allowedMethods, familyOf } from "../lib/routes.ts";
import { handler as listSessions } from "./admin-list-sessions.ts";
import { methodNotAllowed, notFound } from "./shared/errors.ts";
import { file, publicRoute } from "./shared/http.ts";

// API Gateway's `$default` route: whatever no route key matched. A route key cannot end in `/`, so
// seed 3's `GET /sessions/` arrives here and is served by the list handler; everything else gets the
// family's own 404 or 405 instead of API Gateway's plain body.
const unmatched = publicRoute().handler(async (event) => {
  const path = event.rawPath;
  // The API reference is `/docs`; a reader who types `/docs/` is sent there. Relative, so that the
  // reference stays under whatever prefix (a stage, a custom domain's base path) the API is served at.
  if (path === "/docs/" && event.requestContext.http.method === "GET") {
    return {
      ...file("", { location: "../docs", "content-type": "text/plain; charset=utf-8" }),
      statusCode: 308,
    };
  }
  // `/sessions/` serves only seed 3's list: `POST /sessions/` is not a create, so Allow names GET alone.
  const allow = path === "/sessions/" ? ["GET"] : allowedMethods(path);
  if (allow.length > 0) throw methodNotAllowed(allow);
  throw notFound(
    familyOf(path) === "ops"
      ? `No route for ${path}`
      : `No route for ${event.requestContext.http.method} ${path}`,
  );
});

export const handler = (event: APIGatewayProxyEventV2, context: Context) =>
  event.requestContext.http.method === "GET" && event.rawPath === "/sessions/"
    ? listSessions(event as never, context)
    : unmatched(event as never, context);
