import type { MiddlewareObj } from "@middy/core";
import httpJsonBodyParser from "@middy/http-json-body-parser";
import type { Context } from "aws-lambda";
import type { Reply, RouteEvent } from "./http.ts";

// Its own module, imported by the routes that take a body: the others do not bundle the parser.

/**
 * middy's JSON parser, for routes whose body is optional: an absent or empty body stays undefined
 * (seed 3 creates with a bare `curl -X POST`), anything else must be JSON.
 */
export function optionalJsonBody(): MiddlewareObj<RouteEvent, Reply, Error, Context> {
  const parser = httpJsonBodyParser();
  return {
    before: async (request) => {
      const { body } = request.event;
      if (body === undefined || body === null || body === "") {
        request.event.body = undefined;
        return;
      }
      await parser.before?.(request as never);
    },
  };
}
