// The session lifecycle's settings (CONTRACT section 8): the idle clock, how often use is written,
// and the per-user cap. One validator serves the functions (environment), the local runner (checked
// before anything starts) and the CDK stack (context options), so a value refused by one is refused
// by all with the same message.

export type LimitPolicy = "evict_oldest" | "deny_new";
export const LIMIT_POLICIES: readonly LimitPolicy[] = ["evict_oldest", "deny_new"];

export interface LifecycleSettings {
  /** Seconds without use after which a session ends; 0 = no idle clock. */
  idleSeconds: number;
  /** At most one write of `lastActiveAt` per session per this many seconds. */
  touchSeconds: number;
  /** Live sessions a user may hold; 0 = no cap. */
  maxPerUser: number;
  limitPolicy: LimitPolicy;
}

/** The largest cap: a capped create reads every candidate and writes in one 100-part transaction. */
export const MAX_SESSIONS_PER_USER = 50;
const MAX_SECONDS = 315_360_000; // ten years

/** A setting out of range; its message is one line naming the setting and the fix. */
export class SettingError extends Error {
  override readonly name = "SettingError";
}

/** The CDK context option of each setting (`-c sessionIdleSeconds=…`). */
export const CONTEXT_KEYS: Record<string, string> = {
  SESSION_IDLE_SECONDS: "sessionIdleSeconds",
  SESSION_TOUCH_SECONDS: "sessionTouchSeconds",
  SESSION_MAX_PER_USER: "sessionMaxPerUser",
  SESSION_LIMIT_POLICY: "sessionLimitPolicy",
};

/**
 * Reads the lifecycle settings from `read(name)` by environment variable name; `label` and `rename`
 * say how a message names the setting (an environment variable, or a context option).
 */
export function lifecycleSettings(
  read: (name: string) => string | undefined,
  label = "Environment variable",
  rename: (name: string) => string = (name) => name,
): LifecycleSettings {
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name);
    if (raw === undefined || raw === "") return fallback;
    const value = /^-?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new SettingError(
        `${label} ${rename(name)} must be an integer from ${min} to ${max}, got "${raw}"`,
      );
    }
    return value;
  };
  const idleSeconds = integer("SESSION_IDLE_SECONDS", 0, 0, MAX_SECONDS);
  const touchSeconds = integer("SESSION_TOUCH_SECONDS", 60, 1, MAX_SECONDS);
  if (idleSeconds > 0 && idleSeconds < 2 * touchSeconds) {
    throw new SettingError(
      `${label} ${rename("SESSION_IDLE_SECONDS")} (${idleSeconds}) must be 0 (off) or at least twice ${rename("SESSION_TOUCH_SECONDS")} (${touchSeconds})`,
    );
  }
  const maxPerUser = integer("SESSION_MAX_PER_USER", 0, 0, MAX_SESSIONS_PER_USER);
  const policy = read("SESSION_LIMIT_POLICY");
  const limitPolicy = policy === undefined || policy === "" ? "evict_oldest" : policy;
  if (!LIMIT_POLICIES.includes(limitPolicy as LimitPolicy)) {
    throw new SettingError(
      `${label} ${rename("SESSION_LIMIT_POLICY")} must be one of ${LIMIT_POLICIES.join(", ")}, got "${policy}"`,
    );
  }
  return { idleSeconds, touchSeconds, maxPerUser, limitPolicy: limitPolicy as LimitPolicy };
}
