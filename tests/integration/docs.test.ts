import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createRequire } from "node:module";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { api, baseUrl } from "../support/api.ts";
import { call, spec } from "../support/openapi.ts";

// GET /docs, its files and /openapi.json, over HTTP from the local runner. The page itself is
// rendered in a browser by tests/browser/docs-page.test.ts.

const require = createRequire(import.meta.url);

/** The raw bytes and headers of a GET, without fetch's transparent decompression. */
function rawGet(path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>(
    (resolve, reject) => {
      const req = httpRequest(`${baseUrl()}${path}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      });
      req.on("error", reject);
      req.end();
    },
  );
}

describe("GET /openapi.json", () => {
  it("is openapi.yaml, as JSON", async () => {
    const response = await call("/openapi.json");
    expect(response.status).toBe(200);
    expect(response.body).toEqual(spec);
  });
});

describe("GET /docs/", () => {
  it("sends the reader to /docs", async () => {
    const direct = await rawGet("/docs/");
    expect(direct.status).toBe(308);
    expect(direct.headers.location).toBe("../docs");
    expect(direct.headers["content-type"]).toBe("text/plain; charset=utf-8");
    const followed = await fetch(`${baseUrl()}/docs/`);
    expect(followed.status).toBe(200);
    expect(new URL(followed.url).pathname).toBe("/docs");
    expect(followed.headers.get("content-type")).toContain("text/html");
  });
});

describe("GET /docs", () => {
  it("is an HTML page whose every file the API serves itself", async () => {
    const page = await call("/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    // Relative references only: nothing names another origin.
    const refs = [...page.text.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.filter((ref) => !ref.startsWith("data:")).sort()).toEqual(
      ["docs/swagger-ui-bundle.js", "docs/swagger-ui.css", "docs/init.js"].sort(),
    );
    for (const ref of refs.filter((r) => !r.startsWith("data:"))) {
      const asset = await call(`/${ref}`);
      expect(asset.status, ref).toBe(200);
      expect(asset.text.length, ref).toBeGreaterThan(0);
    }
    expect((await call("/docs/swagger-ui.css")).headers.get("content-type")).toBe("text/css; charset=utf-8");
  });

  it("forbids the browser every other origin and every inline script", async () => {
    const policy = (await api("/docs")).headers.get("content-security-policy") ?? "";
    const directives = Object.fromEntries(
      policy.split(";").map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name, values];
      }),
    );
    expect(directives["default-src"]).toEqual(["'none'"]);
    expect(directives["script-src"]).toEqual(["'self'"]);
    expect(directives["connect-src"]).toEqual(["'self'"]);
  });

  it("serves Swagger UI's own file from its npm package, gzip-encoded when accepted", async () => {
    const original = readFileSync(require.resolve("swagger-ui-dist/swagger-ui-bundle.js"));
    const plain = await rawGet("/docs/swagger-ui-bundle.js");
    expect(plain.status).toBe(200);
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.body.equals(original)).toBe(true);
    const gzipped = await rawGet("/docs/swagger-ui-bundle.js", { "accept-encoding": "gzip, br" });
    expect(gzipped.headers["content-encoding"]).toBe("gzip");
    expect(gzipped.headers.vary).toBe("accept-encoding");
    expect(gzipped.body.length).toBeLessThan(original.length / 3);
    expect(gunzipSync(gzipped.body).equals(original)).toBe(true);
  });

  it("answers 404 for any other name, in its folder or outside it", async () => {
    for (const path of [
      "/docs/index.mjs",
      "/docs/openapi.json",
      "/docs/swagger-ui-bundle.js.gz",
      "/docs/..%2Fpackage.json",
      "/docs/constructor",
    ]) {
      const response = await call(path);
      expect(response.status, path).toBe(404);
    }
    // `.` in /openapi.json is a literal dot.
    expect((await call("/openapiXjson")).status).toBe(404);
  });
});
