import { describe, expect, it } from "vitest";
import { logicalIdOf, resourcesOf, synthStack } from "./stack-fixture.ts";

// The lifecycle settings (CONTRACT section 8) as CDK context options: validated by the functions' own
// validator at synth, and passed to every function that uses the store.

describe("lifecycle context options", () => {
  it("reach the functions' environment; defaults stay out of the template", () => {
    const { stack, template } = synthStack({
      sessionIdleSeconds: "1800",
      sessionTouchSeconds: "30",
      sessionMaxPerUser: "5",
      sessionLimitPolicy: "deny_new",
    });
    const functions = resourcesOf(template, "AWS::Lambda::Function");
    const create = functions[logicalIdOf(stack, "AdminCreateSession")];
    expect(create?.Properties.Environment.Variables).toMatchObject({
      SESSION_IDLE_SECONDS: "1800",
      SESSION_TOUCH_SECONDS: "30",
      SESSION_MAX_PER_USER: "5",
      SESSION_LIMIT_POLICY: "deny_new",
    });
    const health = functions[logicalIdOf(stack, "Health")];
    expect(health?.Properties.Environment?.Variables?.SESSION_IDLE_SECONDS).toBeUndefined();

    const plain = synthStack();
    const plainCreate = resourcesOf(plain.template, "AWS::Lambda::Function")[
      logicalIdOf(plain.stack, "AdminCreateSession")
    ];
    expect(Object.keys(plainCreate?.Properties.Environment.Variables)).not.toContain("SESSION_MAX_PER_USER");
  });

  it.each([
    [
      { sessionIdleSeconds: "10", sessionTouchSeconds: "6" },
      "Context sessionIdleSeconds (10) must be 0 (off) or at least twice sessionTouchSeconds (6)",
    ],
    [{ sessionMaxPerUser: "-1" }, "Context sessionMaxPerUser must be an integer"],
    [{ sessionLimitPolicy: "oldest" }, "Context sessionLimitPolicy must be one of evict_oldest, deny_new"],
  ])("a value out of range fails the synth: %j", (context, message) => {
    expect(() => synthStack(context)).toThrow(message);
  });
});
