import { defineConfig } from "vitest/config";

// `npm run test:load`: autocannon against a local runner on its own DynamoDB Local. The whole run
// (start, load, verification) is bounded to 60 s.
export default defineConfig({
  test: {
    include: ["tests/load/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 15_000,
  },
});
