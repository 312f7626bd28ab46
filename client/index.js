import createClient from "openapi-fetch";

// A typed client of the sessions API: openapi-fetch over the types generated from openapi.yaml
// (./generated/openapi.d.ts), plus the bearer credential on every request. Plain JavaScript with its
// types beside it (index.d.ts), so that it runs unchanged from any project that installs this package:
// Node does not strip types from files under node_modules.

/**
 * @param {import("./index.d.ts").SessionsClientOptions} [options]
 * @returns {import("./index.d.ts").SessionsClient}
 */
export function createSessionsClient(options = {}) {
  const { baseUrl = "http://localhost:8000", token, ...rest } = options;
  const client = createClient({ ...rest, baseUrl: baseUrl.replace(/\/+$/, "") });
  if (token !== undefined) {
    client.use({
      async onRequest({ request }) {
        const credential = typeof token === "function" ? await token() : token;
        if (credential) request.headers.set("authorization", `Bearer ${credential}`);
        return request;
      },
    });
  }
  return client;
}
