import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import formats from "ajv-formats";
import { projectRoot } from "../../lib/bundle.ts";

// The JSON Schema of an event's `data`, read from docs/events.md (the block under its heading), so
// the published schema is the one the tests hold the events to.

const HEADING = "### JSON Schema of `data`";

export function dataSchema(): Record<string, unknown> {
  const page = readFileSync(join(projectRoot, "docs", "events.md"), "utf8");
  const after = page.slice(page.indexOf(HEADING));
  const block = /```json\n([\s\S]*?)\n```/.exec(after);
  if (!page.includes(HEADING) || !block?.[1])
    throw new Error(`docs/events.md has no JSON block under "${HEADING}"`);
  return JSON.parse(block[1]) as Record<string, unknown>;
}

const addFormats = formats as unknown as typeof formats.default;

/** Validates an event's `data`; returns the errors as text, or undefined when it conforms. */
export function dataErrors(): (data: unknown) => string | undefined {
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(dataSchema());
  return (data) => (validate(data) ? undefined : ajv.errorsText(validate.errors));
}
