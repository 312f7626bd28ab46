import type { MiddlewareObj } from "@middy/core";
import type { Context } from "aws-lambda";
import { type Audience, authenticate } from "./auth.ts";
import { bodyLimit, type Reply, type RouteEvent, routeStack, type Stack } from "./http.ts";

// Routes that take `Authorization: Bearer …`: the user family (any valid user credential) and the
// admin family (a JWT with the `sessions:admin` scope).

type Middleware = MiddlewareObj<RouteEvent, Reply, Error, Context>;

/** `body`: the parser of a route that takes one (functions/shared/json-body.ts). */
interface RouteOptions {
  body?: () => Middleware;
}

export const userRoute = (options: RouteOptions = {}): Stack => authenticated("user", options);
export const adminRoute = (options: RouteOptions = {}): Stack => authenticated("admin", options);

function authenticated(audience: Audience, options: RouteOptions): Stack {
  const handler = routeStack(audience).use(authenticator(audience));
  // The size limit holds on every authenticated route, body-less ones included (they ignore a small
  // body); only routes that take a body parse it.
  handler.use(bodyLimit());
  if (options.body) handler.use(options.body());
  return handler;
}

function authenticator(audience: Audience): Middleware {
  return {
    before: async (request) => {
      request.event.auth = await authenticate(request.event.headers?.authorization, audience);
    },
  };
}
