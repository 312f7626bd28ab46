import { defineConfig } from "vitest/config";

// `npm test` runs every project: unit (mocked SDK), integration and hardening (real HTTP to the local
// runner on DynamoDB Local), browser (the docs page in Chromium), infra (CDK synthesis, template
// assertions, cdk-nag, bundle budget).
const liveService = {
  globalSetup: ["tests/support/global-setup.ts"],
  testTimeout: 60_000,
  // Starting DynamoDB Local and the runner can take a minute or more on a busy machine.
  hookTimeout: 180_000,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["tests/unit/**/*.test.ts"],
          setupFiles: ["tests/support/unit-env.ts"],
        },
      },
      { test: { name: "integration", include: ["tests/integration/**/*.test.ts"], ...liveService } },
      { test: { name: "hardening", include: ["tests/hardening/**/*.test.ts"], ...liveService } },
      {
        // Starts its own runner and renders /docs in Debian's chromium; skipped, saying so, without it.
        test: {
          name: "browser",
          include: ["tests/browser/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "infra",
          include: ["tests/infra/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
