// The one definition of "live" in DynamoDB's expression language: every conditional write and every
// filtered read uses it, so expiry and the ended marker are judged the same way everywhere.

export interface Expression {
  expression: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
}

/**
 * The session has expired by neither clock (absolute `expiresAt`, idle `idleExpiresAt` when it has
 * one) and is not being ended (`ended` marker). An index query filters with this alone: a filter may
 * not name the index's own keys, and every item of a session index is a session. `gone` in items.ts
 * is the same rule for an item already read.
 */
export function unexpired(now: Date): Expression {
  return {
    expression:
      "#expiresAt > :now AND attribute_not_exists(#ended) AND (attribute_not_exists(#idleExpiresAt) OR #idleExpiresAt > :now)",
    names: { "#expiresAt": "expiresAt", "#ended": "ended", "#idleExpiresAt": "idleExpiresAt" },
    values: { ":now": now.toISOString() },
  };
}

/** The item is a session that exists and is `unexpired`: the condition of every write to a session. */
export function live(now: Date): Expression {
  const condition = unexpired(now);
  return {
    expression: `attribute_exists(#userId) AND ${condition.expression}`,
    names: { "#userId": "userId", ...condition.names },
    values: condition.values,
  };
}

/** `live`, and owned by `ownerId` when one is given (the user family's writes). */
export function liveOwned(now: Date, ownerId: string | undefined): Expression {
  const condition = live(now);
  if (ownerId === undefined) return condition;
  return {
    expression: `${condition.expression} AND #userId = :owner`,
    names: condition.names,
    values: { ...condition.values, ":owner": ownerId },
  };
}

/** Joins expressions with AND; names and values are merged (their placeholders must agree). */
export function and(...parts: Expression[]): Expression {
  return {
    expression: parts.map((part) => `(${part.expression})`).join(" AND "),
    names: Object.assign({}, ...parts.map((part) => part.names)),
    values: Object.assign({}, ...parts.map((part) => part.values)),
  };
}
