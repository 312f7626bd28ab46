import type { MiddlewareObj } from "@middy/core";
import type { Context } from "aws-lambda";
import { type Audience, authenticate } from "./auth.ts";
import { bodyLimit, type Reply, type RouteEvent, routeStack, type Stack } from "./http.ts";
import { recordUse } from "./store/index.ts";

// Routes that take `Authorization: Bearer …`: the user family (any valid user credential) and the
// admin family (a JWT with the `sessions:admin` scope).

type Middleware = MiddlewareObj<RouteEvent, Reply, Error, Context>;

/** `body`: the parser of a route that takes one (functions/shared/json-body.ts). */
interface RouteOptions {
  body?: () => Middleware;
}

export const userRoute = (options: RouteOptions = {}): Stack =>
  authenticated("user", userAuthenticator, options);
export const adminRoute = (options: RouteOptions = {}): Stack =>
  authenticated("admin", adminAuthenticator, options);

function authenticated(audience: Audience, authenticator: Middleware, options: RouteOptions): Stack {
  const handler = routeStack(audience).use(authenticator);
  // The size limit holds on every authenticated route, body-less ones included (they ignore a small
  // body); only routes that take a body parse it.
  handler.use(bodyLimit());
  if (options.body) handler.use(options.body());
  return handler;
}

/** A backend's JWT with the admin scope; its checks are not a use of any session. */
const adminAuthenticator: Middleware = {
  before: async (request) => {
    request.event.auth = await authenticate(request.event.headers?.authorization, "admin");
  },
};

/**
 * Any valid user credential. A session's own credentials (its access token, its registered token) are
 * a use of that session: its idle clock moves (at most once per touch interval, section 8). Its own
 * object, so that admin functions do not bundle the use recording.
 */
const userAuthenticator: Middleware = {
  before: async (request) => {
    const principal = await authenticate(request.event.headers?.authorization, "user");
    if (principal.session) principal.session = await recordUse(principal.session);
    request.event.auth = principal;
  },
};
