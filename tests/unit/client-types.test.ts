import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { clientTypesPath, generateClientTypes } from "../../lib/client-types.ts";
import { openapiDocument } from "../../lib/docs.ts";

// The committed client types are what openapi.yaml generates now (`npm run check:client` in CI does
// the same): a change to the document without `npm run generate:client` fails here.

describe("client/generated/openapi.d.ts", () => {
  it("is what `npm run generate:client` writes from openapi.yaml", async () => {
    expect(readFileSync(clientTypesPath, "utf8")).toBe(await generateClientTypes());
  });

  it("types every operation of openapi.yaml", async () => {
    const types = await generateClientTypes();
    const ids = Object.values(openapiDocument().paths as Record<string, Record<string, any>>).flatMap(
      (item) => Object.values(item).flatMap((operation) => operation?.operationId ?? []),
    );
    expect(ids.length).toBeGreaterThan(10);
    for (const id of ids) expect(types, id).toContain(`\n    ${id}: {`);
  });
});
