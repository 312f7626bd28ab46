import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import formats from "ajv-formats";
import { parse } from "yaml";
import { type ApiResponse, api } from "./api.ts";

// openapi.yaml is the contract the integration tests hold the service to: every response they see
// must be a documented status of the operation it reached, carry that status's required headers,
// and have a body that validates against the documented schema.

type Json = Record<string, any>;

export const specPath = join(import.meta.dirname, "..", "..", "openapi.yaml");
export const spec: Json = parse(readFileSync(specPath, "utf8"));

const SCHEMAS_ID = "openapi-schemas";
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** Component schema references become references into one registered schema of `$defs`. */
function rebase(node: unknown): any {
  if (Array.isArray(node)) return node.map(rebase);
  if (typeof node !== "object" || node === null) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] =
      key === "$ref" && typeof value === "string" && value.startsWith("#/components/schemas/")
        ? `${SCHEMAS_ID}#/$defs/${value.slice("#/components/schemas/".length)}`
        : rebase(value);
  }
  return out;
}

const addFormats = formats as unknown as typeof formats.default;
export const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: SCHEMAS_ID, $defs: rebase(spec.components?.schemas ?? {}) });

const compiled = new WeakMap<object, ValidateFunction>();
function validator(schema: object): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(rebase(schema));
    compiled.set(schema, validate);
  }
  return validate;
}

/** Follows a local `$ref` (`#/components/...`) of a non-schema object. */
export function resolve<T = Json>(node: Json): T {
  let current = node;
  for (let hops = 0; typeof current?.$ref === "string"; hops++) {
    if (hops > 10) throw new Error(`openapi.yaml: $ref loop at ${node.$ref}`);
    const target = (current.$ref as string)
      .replace(/^#\//, "")
      .split("/")
      .reduce<any>((at, part) => at?.[part.replace(/~1/g, "/").replace(/~0/g, "~")], spec);
    if (target === undefined) throw new Error(`openapi.yaml: unresolved $ref ${current.$ref}`);
    current = target;
  }
  return current as T;
}

interface Template {
  path: string;
  regex: RegExp;
  params: number;
}
const templates: Template[] = Object.keys(spec.paths ?? {})
  .map((path) => ({
    path,
    regex: new RegExp(
      `^${path
        .split(/(\{[^}]+\})/)
        .map((part) => (part.startsWith("{") ? "[^/]+" : part.replace(/[.*+?^$()|[\]\\]/g, "\\$&")))
        .join("")}$`,
    ),
    params: (path.match(/\{/g) ?? []).length,
  }))
  // Concrete paths win over templated ones, as OpenAPI path matching requires.
  .sort((a, b) => a.params - b.params);

/** The documented success status of an operation (a route's id is its operationId): its one 2xx. */
export function successStatus(operationId: string): number {
  for (const item of Object.values(spec.paths as Json)) {
    for (const operation of Object.values(item as Json)) {
      if (operation?.operationId !== operationId) continue;
      const codes = Object.keys(operation.responses).filter((code) => /^2\d\d$/.test(code));
      if (codes.length !== 1) throw new Error(`${operationId} documents ${codes.length} success statuses`);
      return Number(codes[0]);
    }
  }
  throw new Error(`openapi.yaml has no operation ${operationId}`);
}

export interface Operation {
  /** The path template, or undefined for a request no operation serves. */
  template: string | undefined;
  operationId: string;
  responses: Json;
}

/** The operation a request reaches; requests no operation serves get `x-unmatched-requests`. */
export function operationFor(method: string, rawPath: string): Operation {
  const pathname = rawPath.split("?")[0] as string;
  for (const template of templates) {
    if (!template.regex.test(pathname)) continue;
    const operation = spec.paths[template.path]?.[method.toLowerCase()];
    if (operation) {
      return { template: template.path, operationId: operation.operationId, responses: operation.responses };
    }
  }
  const unmatched = spec["x-unmatched-requests"];
  return { template: undefined, operationId: unmatched.operationId, responses: unmatched.responses };
}

export const documentedMethods = (template: string): string[] =>
  Object.keys(spec.paths[template] ?? {})
    .filter((key) => METHODS.includes(key))
    .map((key) => key.toUpperCase());

function describe(response: ApiResponse): string {
  const text = response.text.length > 600 ? `${response.text.slice(0, 600)}…` : response.text;
  return `body: ${text || "(empty)"}`;
}

/**
 * Fails unless `response` is what openapi.yaml documents for `method path`: a documented status,
 * every required header of that status present and valid, and a body matching its schema.
 */
export function expectMatchesSpec(method: string, path: string, response: ApiResponse): void {
  const operation = operationFor(method, path);
  const where = `${method} ${path} (${operation.operationId}${operation.template ? ` ${operation.template}` : ", unmatched"})`;
  const status = String(response.status);
  const documented = operation.responses[status] ?? operation.responses.default;
  if (!documented) {
    throw new Error(
      `${where} answered ${status}, which openapi.yaml does not document (documented: ${Object.keys(operation.responses).join(", ")}); ${describe(response)}`,
    );
  }
  const spec = resolve(documented);
  const problems: string[] = [];
  // Not a header of any one operation: every answer carries it (CONTRACT section 5).
  const sniffing = response.headers.get("x-content-type-options");
  if (sniffing !== "nosniff")
    problems.push(`x-content-type-options is ${JSON.stringify(sniffing)}, not nosniff`);

  for (const [name, ref] of Object.entries<Json>(spec.headers ?? {})) {
    const header = resolve(ref);
    const value = response.headers.get(name);
    if (value === null) {
      if (header.required) problems.push(`required header ${name} is missing`);
      continue;
    }
    if (header.schema) {
      const validate = validator(header.schema);
      if (!validate(value)) {
        problems.push(
          `header ${name}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors, { dataVar: name })}`,
        );
      }
    }
  }

  const media = spec.content?.["application/json"];
  if (media) {
    const contentType = response.headers.get("content-type") ?? "";
    if (!/^application\/json\b/.test(contentType))
      problems.push(`content-type is ${JSON.stringify(contentType)}`);
    if (response.body === undefined) {
      problems.push("body is not JSON");
    } else if (media.schema) {
      const validate = validator(media.schema);
      if (!validate(response.body)) {
        problems.push(
          ...(validate.errors ?? []).map(
            (e) => `body${e.instancePath} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`,
          ),
        );
      }
    }
  } else if (spec.content) {
    // A documented body that is not JSON (the docs page and its files): its media type must match.
    const contentType = response.headers.get("content-type") ?? "";
    if (!Object.keys(spec.content).some((type) => contentType.split(";")[0]?.trim() === type))
      problems.push(
        `content-type is ${JSON.stringify(contentType)}, not one of ${Object.keys(spec.content)}`,
      );
  } else if (response.text !== "") {
    problems.push("openapi.yaml documents no body, but one was sent");
  }

  if (problems.length > 0) {
    throw new Error(
      `${where} answered ${status}, which does not match openapi.yaml:\n  - ${problems.join("\n  - ")}\n${describe(response)}`,
    );
  }
}

/** `api()` whose response must match openapi.yaml. */
export async function call<T = any>(
  path: string,
  options: Parameters<typeof api>[1] = {},
): Promise<ApiResponse<T>> {
  const response = await api<T>(path, options);
  expectMatchesSpec(options.method ?? "GET", path, response);
  return response;
}
