import { resolve } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { createSessionsClient, type SessionsClient } from "sessions-service/client";
import { devSecret, devToken } from "./dev-secret.ts";

// `npx sessions <command>`: the operator's view of the API through the typed client (client/).
// Exit status: 0 done, 1 the API refused or could not be reached, 2 a mistake on the command line.

export interface Io {
  env: Record<string, string | undefined>;
  out: (line: string) => void;
  err: (line: string) => void;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

interface Command {
  /** In the overall usage. */
  brief: string;
  args: string;
  summary: string;
  options: Options;
  optionHelp?: string[];
  /** Positional arguments it takes. */
  positionals: number;
  run(context: Context): Promise<number>;
}

interface Context {
  io: Io;
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  client: SessionsClient;
  json: boolean;
}

const DEFAULT_URL = "http://localhost:8000";

const globalOptions = {
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

const GLOBAL_HELP = [
  `  --url <url>       the API (default ${DEFAULT_URL}, or SESSIONS_URL)`,
  "  --token <jwt>     an admin token (default: SESSIONS_TOKEN); `sessions token --sub ops --admin` makes one",
  "  --json            the API's JSON instead of a table",
  "  -h, --help        this help",
];

const commands: Record<string, Command> = {
  list: {
    brief: "list [--user U]",
    args: "[--user <user id>] [--limit <n>] [--cursor <c>]",
    summary: "sessions, newest first: all of them, or one user's",
    options: { user: { type: "string" }, limit: { type: "string" }, cursor: { type: "string" } },
    optionHelp: [
      "  --user <user id>  that user's sessions only",
      "  --limit <n>       how many, 1 to 100 (default 20)",
      "  --cursor <c>      the next page, as the previous one printed it",
    ],
    positionals: 0,
    async run({ client, values, io, json }) {
      const query = {
        limit: Number(values.limit ?? 20),
        ...(typeof values.cursor === "string" && { cursor: values.cursor }),
      };
      const result =
        typeof values.user === "string"
          ? await client.GET("/sessions/user/{user_id}", {
              params: { path: { user_id: values.user }, query },
            })
          : await client.GET("/sessions", { params: { query } });
      if (result.error !== undefined) return refused(io, result);
      if (json) io.out(JSON.stringify(result.data, null, 2));
      else io.out(sessionTable(result.data));
      const next = /[?&]cursor=([^&>]+)[^>]*>;\s*rel="next"/.exec(result.response.headers.get("link") ?? "");
      if (next && !json) io.err(`more sessions follow: --cursor ${decodeURIComponent(next[1] as string)}`);
      return 0;
    },
  },
  get: {
    brief: "get ID",
    args: "<session id>",
    summary: "one session",
    options: {},
    positionals: 1,
    async run({ client, positionals, io, json }) {
      const [id] = positionals as [string];
      const result = await client.GET("/sessions/{id}", { params: { path: { id } } });
      if (result.error !== undefined) return refused(io, result);
      io.out(json ? JSON.stringify(result.data, null, 2) : keyValues(result.data));
      return 0;
    },
  },
  revoke: {
    brief: "revoke ID",
    args: "<session id>",
    summary: "delete a session: its tokens stop working at once",
    options: {},
    positionals: 1,
    async run({ client, positionals, io, json }) {
      const [id] = positionals as [string];
      const result = await client.DELETE("/sessions/{id}", { params: { path: { id } } });
      if (result.error !== undefined) return refused(io, result);
      io.out(json ? JSON.stringify(result.data, null, 2) : `${result.data.message}: ${id}`);
      return 0;
    },
  },
  "revoke-user": {
    brief: "revoke-user U",
    args: "<user id>",
    summary: "delete every session of a user",
    options: {},
    positionals: 1,
    async run({ client, positionals, io, json }) {
      const [user] = positionals as [string];
      const result = await client.DELETE("/sessions/user/{user_id}", { params: { path: { user_id: user } } });
      if (result.error !== undefined) return refused(io, result);
      const { data } = result;
      io.out(json ? JSON.stringify(data, null, 2) : `${data.message}: ${data.deleted} of user ${user}`);
      return 0;
    },
  },
  introspect: {
    brief: "introspect TOKEN",
    args: "<token>",
    summary: "whether a credential is active now, and whose (RFC 7662)",
    options: {},
    positionals: 1,
    async run({ client, positionals, io, json }) {
      const [token] = positionals as [string];
      const result = await client.POST("/sessions/introspect", { body: { token } });
      if (result.error !== undefined) return refused(io, result);
      io.out(json ? JSON.stringify(result.data, null, 2) : keyValues(result.data));
      return 0;
    },
  },
  create: {
    brief: "create --user U",
    args: "--user <user id> [--expires-at <RFC 3339 time>]",
    summary: "create a session for a user; prints its access token once",
    options: { user: { type: "string" }, "expires-at": { type: "string" } },
    optionHelp: [
      "  --user <user id>            whose session (required)",
      "  --expires-at <time>         when it ends (default: the service's SESSION_TTL_SECONDS from now)",
    ],
    positionals: 0,
    async run({ client, values, io, json }) {
      if (typeof values.user !== "string") return usageError(io, "create needs --user <user id>", "create");
      const result = await client.POST("/sessions/user/{user_id}", {
        params: { path: { user_id: values.user } },
        body: typeof values["expires-at"] === "string" ? { expires_at: values["expires-at"] } : {},
      });
      if (result.error !== undefined) return refused(io, result);
      io.out(json ? JSON.stringify(result.data, null, 2) : keyValues(result.data));
      return 0;
    },
  },
  token: {
    brief: "token --sub S [--admin]",
    args: "--sub <user id> [--admin] [--ttl <seconds>] [--sid <session id>]",
    summary: "a development JWT signed with the local key (JWT_SECRET, or npm start's)",
    options: {
      sub: { type: "string" },
      admin: { type: "boolean" },
      ttl: { type: "string" },
      sid: { type: "string" },
    },
    optionHelp: [
      "  --sub <user id>     the token's subject (required)",
      "  --admin             with scope sessions:admin",
      "  --ttl <seconds>     lifetime (default 3600)",
      "  --sid <session id>  bound to that session",
    ],
    positionals: 0,
    async run({ values, io, json }) {
      if (typeof values.sub !== "string") return usageError(io, "token needs --sub <user id>", "token");
      const ttl = Number(values.ttl ?? 3600);
      if (!Number.isSafeInteger(ttl) || ttl <= 0) {
        return usageError(
          io,
          `--ttl must be a positive whole number of seconds, got "${values.ttl}"`,
          "token",
        );
      }
      const secret = devSecret(resolve(io.env.LOCAL_DATA_DIR ?? ".data"));
      const token = await devToken(secret, {
        sub: values.sub,
        admin: values.admin === true,
        ttlSeconds: ttl,
        ...(typeof values.sid === "string" && { sid: values.sid }),
      });
      io.out(json ? JSON.stringify({ token }) : token);
      return 0;
    },
  },
};

export function usage(): string {
  const width = Math.max(...Object.values(commands).map((c) => c.brief.length));
  return [
    "usage: npx sessions <command> [options]",
    "",
    "commands:",
    ...Object.values(commands).map((c) => `  ${c.brief.padEnd(width)}  ${c.summary}`),
    "",
    "options (every command):",
    ...GLOBAL_HELP,
    "",
    "`npx sessions <command> --help` describes one command.",
  ].join("\n");
}

export function commandUsage(name: string): string {
  const command = commands[name] as Command;
  return [
    `usage: npx sessions ${name} ${command.args}`,
    "",
    `${command.summary[0]?.toUpperCase()}${command.summary.slice(1)}.`,
    "",
    "options:",
    ...(command.optionHelp ?? []),
    ...GLOBAL_HELP,
  ].join("\n");
}

function usageError(io: Io, message: string, command?: string): number {
  io.err(`sessions: ${message}`);
  io.err("");
  io.err(command ? commandUsage(command) : usage());
  return 2;
}

/** Runs one command line; resolves with the exit status. Never throws for a user's mistake. */
export async function main(argv: string[], io: Io): Promise<number> {
  // First pass: find the command, whatever the options around it.
  const { positionals: found } = parseArgs({
    args: argv,
    options: globalOptions,
    strict: false,
    allowPositionals: true,
  });
  const name = found[0];
  if (name === undefined) {
    if (argv.includes("--help") || argv.includes("-h")) {
      io.out(usage());
      return 0;
    }
    return usageError(io, argv.length === 0 ? "no command given" : `no command in "${argv.join(" ")}"`);
  }
  if (name === "help") {
    io.out(usage());
    return 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) return usageError(io, `unknown command "${name}"`);

  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...globalOptions, ...command.options },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    return usageError(io, (error as Error).message, name);
  }
  const { values } = parsed;
  if (values.help) {
    io.out(commandUsage(name));
    return 0;
  }
  const positionals = parsed.positionals.slice(1);
  if (positionals.length !== command.positionals) {
    return usageError(
      io,
      command.positionals === 0
        ? `${name} takes no argument, got "${positionals.join(" ")}"`
        : `${name} needs ${command.args}${positionals.length > 1 ? `, got "${positionals.join(" ")}"` : ""}`,
      name,
    );
  }
  if (values.limit !== undefined && !/^\d+$/.test(String(values.limit))) {
    return usageError(io, `--limit must be a whole number from 1 to 100, got "${values.limit}"`, name);
  }
  const url = String(values.url ?? (io.env.SESSIONS_URL || DEFAULT_URL));
  if (!/^https?:\/\/[^/]/.test(url)) {
    return usageError(io, `--url must be an http:// or https:// URL, got "${url}"`, name);
  }
  const token = typeof values.token === "string" ? values.token : io.env.SESSIONS_TOKEN || undefined;
  const client = createSessionsClient({ baseUrl: url, ...(token && { token }) });
  try {
    return await command.run({ io, positionals, values, client, json: values.json === true });
  } catch (error) {
    io.err(`sessions: ${unreachable(error, url)}`);
    return 1;
  }
}

function refused(io: Io, result: { error?: unknown; response: Response }): number {
  const { status, statusText } = result.response;
  const body = result.error as
    | { detail?: string; error?: { details?: string }; message?: string }
    | undefined;
  const detail = body?.detail ?? body?.error?.details ?? body?.message ?? statusText;
  const hint =
    status === 401
      ? " (pass --token or set SESSIONS_TOKEN; locally: SESSIONS_TOKEN=$(npx sessions token --sub ops --admin))"
      : status === 403
        ? " (the token needs scope sessions:admin: npx sessions token --sub ops --admin)"
        : status === 405
          ? ` (the API at ${result.response.url.replace(/(\/\/[^/]+).*$/, "$1")} does not serve this yet: an older version?)`
          : "";
  io.err(`sessions: ${status} ${detail}${hint}`);
  return 1;
}

function unreachable(error: unknown, url: string): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
  return `cannot reach the API at ${url} (${code}): start it with \`npm start\`, or pass --url`;
}

// --- output -------------------------------------------------------------------------------------

type Row = Record<string, unknown>;

/** Aligned columns; a small formatter instead of a dependency for one table shape. */
function table(rows: Row[], columns: [header: string, pick: (row: Row) => unknown][]): string {
  const cells = rows.map((row) => columns.map(([, pick]) => text(pick(row))));
  const widths = columns.map(([header], i) =>
    Math.max(header.length, ...cells.map((r) => (r[i] as string).length)),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd();
  return [line(columns.map(([header]) => header)), ...cells.map(line)].join("\n");
}

function sessionTable(sessions: Row[]): string {
  if (sessions.length === 0) return "no sessions";
  return table(sessions, [
    ["ID", (s) => s.id],
    ["USER", (s) => s.user_id],
    ["ACTIVE", (s) => (s.is_active ? "yes" : "no")],
    ["CREATED", (s) => s.created_at],
    ["EXPIRES", (s) => s.expires_at],
    ["IP", (s) => s.ip_address],
    ["USER AGENT", (s) => s.user_agent],
  ]);
}

function keyValues(record: Row): string {
  const width = Math.max(...Object.keys(record).map((key) => key.length));
  return Object.entries(record)
    .map(([key, value]) => `${key.padEnd(width)}  ${text(value)}`)
    .join("\n");
}

function text(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
