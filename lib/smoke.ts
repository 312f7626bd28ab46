import { randomBytes } from "node:crypto";

// `npm run smoke`: a black-box check of a running deployment through its public API alone. It
// creates one session for a user of its own, follows it through the lifecycle a client sees (read,
// list, deactivate, the token refused, delete) and deletes what it created even when a check fails.

export interface SmokeOptions {
  /** Base URL of the API (the stack's ApiUrl output, or http://localhost:8000). */
  url: string;
  /** A JWT whose `scope` holds `sessions:admin`. */
  adminToken: string;
  /** Abandon a request after this long. */
  timeoutMs?: number;
  /** Each line of the report, as it happens. */
  print?: (line: string) => void;
}

export interface SmokeResult {
  passed: boolean;
  /** Checks that passed, in order. */
  checks: string[];
  /** The check that failed and why. */
  failure?: { check: string; reason: string };
}

class CheckFailed extends Error {}

/** A JSON object answer's fields (anything else reads as no fields). */
type Body = { readonly [field: string]: unknown } | undefined;

interface Answer {
  status: number;
  body: Body;
  /** The answer as it came, for failure messages. */
  text: string;
  requestId: string | null;
}

/** How long a just-created session may take to appear in a list (DynamoDB indexes lag on AWS). */
const LIST_WAIT_MS = 10_000;

export async function runSmoke(options: SmokeOptions): Promise<SmokeResult> {
  const print = options.print ?? (() => {});
  const base = new URL(options.url.endsWith("/") ? options.url : `${options.url}/`);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const admin = options.adminToken;
  const checks: string[] = [];
  let created: { id: string; accessToken: string } | undefined;
  let deleted = false;

  const send = async (method: string, path: string, token?: string, body?: unknown): Promise<Answer> => {
    const headers: Record<string, string> = { "user-agent": "sessions-smoke" };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(new URL(path, base), {
        method,
        headers,
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new CheckFailed(`${method} /${path}: ${networkReason(error, timeoutMs)}`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return {
      status: response.status,
      body: typeof parsed === "object" && parsed !== null ? (parsed as Body) : undefined,
      text,
      requestId: response.headers.get("x-request-id"),
    };
  };

  const expect = (
    answer: Answer,
    status: number,
    what: string,
    holds: (body: Body) => boolean = () => true,
  ) => {
    if (answer.status === status && holds(answer.body)) return;
    const got = answer.status === status ? "an unexpected body" : `${answer.status}`;
    throw new CheckFailed(
      `expected ${status} with ${what}, got ${got}: ${excerpt(answer.text)}${answer.requestId ? ` (x-request-id ${answer.requestId})` : ""}`,
    );
  };

  const check = async (name: string, run: () => Promise<string | undefined>) => {
    const started = performance.now();
    const note = await run().catch((error: unknown) => {
      if (error instanceof CheckFailed) throw Object.assign(error, { check: name });
      throw error;
    });
    checks.push(name);
    print(
      `ok   ${name.padEnd(11)} ${`${Math.round(performance.now() - started)} ms`.padStart(8)}${note ? `  ${note}` : ""}`,
    );
  };

  const userId = `smoke-${randomBytes(9).toString("base64url")}`;
  try {
    await check("health", async () => {
      expect(await send("GET", "health"), 200, '{"status":"ok"}', (b) => b?.status === "ok");
      return undefined;
    });
    await check("create", async () => {
      const answer = await send("POST", "sessions", admin, { userId, user_agent: "sessions-smoke" });
      expect(
        answer,
        201,
        "the new session and its access_token",
        (b) => typeof b?.id === "string" && b.user_id === userId && typeof b.access_token === "string",
      );
      created = { id: String(answer.body?.id), accessToken: String(answer.body?.access_token) };
      return `session ${created.id} for user ${userId}`;
    });
    const session = created as { id: string; accessToken: string };
    await check("get", async () => {
      expect(
        await send("GET", `sessions/${session.id}`, admin),
        200,
        "the session, active",
        (b) => b?.id === session.id && b.is_active === true,
      );
      return undefined;
    });
    await check("list", async () => {
      const deadline = Date.now() + LIST_WAIT_MS;
      for (;;) {
        const answer = await send("GET", "api/sessions", session.accessToken);
        expect(answer, 200, "the user's sessions", (b) => b?.success === true && Array.isArray(b.data));
        const listed = answer.body?.data as { id?: unknown }[];
        if (listed.some((s) => s?.id === session.id)) return undefined;
        if (Date.now() > deadline) {
          throw new CheckFailed(`the new session is not in GET /api/sessions after ${LIST_WAIT_MS / 1000} s`);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    });
    await check("deactivate", async () => {
      expect(
        await send("PATCH", `api/sessions/${session.id}/deactivate`, session.accessToken),
        200,
        "success",
        (b) => b?.success === true,
      );
      return undefined;
    });
    await check("refused", async () => {
      expect(
        await send("GET", "api/sessions", session.accessToken),
        401,
        "the deactivated session's token refused",
      );
      return undefined;
    });
    await check("delete", async () => {
      expect(
        await send("DELETE", `sessions/${session.id}`, admin),
        200,
        '{"message":"Session deleted"}',
        (b) => b?.message === "Session deleted",
      );
      deleted = true;
      return undefined;
    });
    await check("gone", async () => {
      expect(await send("GET", `sessions/${session.id}`, admin), 404, "not found");
      return undefined;
    });
    return { passed: true, checks };
  } catch (error) {
    const check = (error as { check?: string }).check ?? "smoke";
    const reason = error instanceof CheckFailed ? error.message : String(error);
    return { passed: false, checks, failure: { check, reason } };
  } finally {
    if (created && !deleted) {
      // Whatever failed, leave nothing behind: an admin delete ends the session and its tokens.
      const answer = await send("DELETE", `sessions/${created.id}`, admin).catch((error: unknown) => error);
      print(
        answer instanceof Error || ![200, 404].includes((answer as Answer).status)
          ? `cleanup: could not delete session ${created.id} (${answer instanceof Error ? answer.message : (answer as Answer).status}); delete it by hand`
          : `cleanup: deleted session ${created.id}`,
      );
    }
  }
}

function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `no answer within ${timeoutMs / 1000} s`;
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

function excerpt(text: string): string {
  if (text === "") return "(empty body)";
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
