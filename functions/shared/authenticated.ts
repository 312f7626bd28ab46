import type { MiddlewareObj } from "@middy/core";
import type { Context } from "aws-lambda";
import { type Audience, authenticate } from "./auth.ts";
import { bodyLimit, optionalJsonBody, type Reply, type RouteEvent, routeStack, type Stack } from "./http.ts";

// Routes that take `Authorization: Bearer …`: the user family (any valid user credential) and the
// admin family (a JWT with the `sessions:admin` scope).

export const userRoute = (options: { body?: boolean } = {}): Stack => authenticated("user", options);
export const adminRoute = (options: { body?: boolean } = {}): Stack => authenticated("admin", options);

function authenticated(audience: Audience, options: { body?: boolean }): Stack {
  const handler = routeStack(audience).use(authenticator(audience));
  // The size limit holds on every authenticated route, body-less ones included (they ignore a small
  // body); only routes that take a body parse it.
  handler.use(bodyLimit());
  if (options.body) handler.use(optionalJsonBody());
  return handler;
}

function authenticator(audience: Audience): MiddlewareObj<RouteEvent, Reply, Error, Context> {
  return {
    before: async (request) => {
      request.event.auth = await authenticate(request.event.headers?.authorization, audience);
    },
  };
}
