import type { Client, ClientOptions } from "openapi-fetch";
import type { components, operations, paths } from "./generated/openapi.js";

export type { components, operations, paths };

export interface SessionsClientOptions extends ClientOptions {
  /** The API's base URL; default http://localhost:8000 (`npm start`). */
  baseUrl?: string;
  /**
   * Sent as `Authorization: Bearer …` on every request: a JWT (an admin token for `/sessions`), a
   * session's `access_token`, or a registered opaque token; or a function that returns one.
   */
  token?: string | (() => string | Promise<string>);
}

/** openapi-fetch's client over the API's paths: `GET`, `POST`, `PATCH`, `DELETE`, each typed. */
export type SessionsClient = Client<paths>;

export type Session = components["schemas"]["Session"];
export type SessionWithUser = components["schemas"]["SessionWithUser"];
export type CreatedSession = components["schemas"]["CreatedSession"];
/** The admin family's error body: `{detail, code}`. */
export type AdminError = components["schemas"]["AdminError"];
/** The user family's error envelope: `{success: false, message, error: {code, details}, …}`. */
export type UserError = components["schemas"]["UserError"];

export function createSessionsClient(options?: SessionsClientOptions): SessionsClient;
