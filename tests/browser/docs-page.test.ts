import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../lib/bundle.ts";
import { openapiDocument } from "../../lib/docs.ts";
import { type Runner, startRunner } from "../support/runner.ts";

// GET /docs rendered by a real browser (Debian's chromium; browsers cannot be downloaded here), with
// every request to a host other than the local runner blocked: the page must render every operation
// of openapi.yaml from the service's own files, with no script error. Saves docs/api-reference.png.

/** Debian's chromium, or another Chromium build named by CHROMIUM_PATH (e.g. google-chrome). */
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
const MISSING = `${CHROMIUM} not found: the docs page is not rendered (apt-get install chromium, which .ci/run does, or set CHROMIUM_PATH)`;
if (!hasChromium) console.warn(`tests/browser/docs-page.test.ts: ${MISSING}`);

const SCREENSHOT = join(projectRoot, "docs", "api-reference.png");
/**
 * The page is loaded under a name that is not `localhost` (mapped to the runner's loopback address),
 * as a deployed API's would be: Swagger UI behaves differently for localhost (no validator badge).
 */
const HOST = "api.sessions.test";
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** Every operation of openapi.yaml as Swagger UI labels it: method, path, operation id. */
function documentedOperations(): string[] {
  const paths = openapiDocument().paths as Record<string, Record<string, { operationId?: string }>>;
  return Object.entries(paths).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map(
      (method) => `${method.toUpperCase()} ${path} ${item[method]?.operationId}`,
    ),
  );
}

let runner: Runner | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!hasChromium) return;
  runner = await startRunner({});
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [`--host-resolver-rules=MAP ${HOST} 127.0.0.1`],
  });
});
afterAll(async () => {
  await browser?.close();
  await runner?.stop();
});

describe("GET /docs in Chromium", () => {
  it("renders every operation of openapi.yaml from the API's own files, with no error", async (context) => {
    context.skip(!hasChromium, MISSING);
    const origin = `http://${HOST}:${new URL((runner as Runner).url).port}`;
    const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
    const foreign: string[] = [];
    const problems: string[] = [];
    const fetched: string[] = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === origin) return route.continue();
      foreign.push(url);
      return route.abort("blockedbyclient");
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("requestfailed", (request) => problems.push(`failed: ${request.url()}`));
    page.on("response", (response) => {
      fetched.push(new URL(response.url()).pathname);
      if (response.status() >= 400) problems.push(`${response.status()}: ${response.url()}`);
    });

    const response = await page.goto(`${origin}/docs`);
    expect(response?.status()).toBe(200);
    const expected = documentedOperations();
    await page.waitForFunction((n) => document.querySelectorAll(".opblock").length >= n, expected.length, {
      timeout: 60_000,
    });
    const rendered = await page.$$eval(".opblock", (blocks) =>
      blocks.map((block) =>
        [
          block.querySelector(".opblock-summary-method")?.textContent?.trim(),
          block.querySelector(".opblock-summary-path")?.getAttribute("data-path"),
          block.querySelector(".opblock-summary-operation-id")?.textContent?.trim(),
        ].join(" "),
      ),
    );
    expect(rendered.sort()).toEqual(expected.sort());
    expect(await page.title()).toBe("Sessions API reference");
    expect(foreign).toEqual([]);
    expect(problems).toEqual([]);
    expect(fetched).toEqual(
      expect.arrayContaining([
        "/docs",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/openapi.json",
      ]),
    );

    // The README's picture: the operations, as a reader first meets them.
    await page.evaluate(() =>
      document.querySelector(".scheme-container")?.scrollIntoView({ block: "start" }),
    );
    mkdirSync(join(projectRoot, "docs"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, animations: "disabled", caret: "hide" });
    expect(existsSync(SCREENSHOT)).toBe(true);
    await page.close();
  });
});
