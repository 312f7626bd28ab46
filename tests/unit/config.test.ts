import { afterEach, describe, expect, it, vi } from "vitest";

// A provider's key set signs tokens for every app and tenant it serves: a function configured with
// JWKS_URL but without JWT_ISSUER and JWT_AUDIENCE must refuse to start, not accept them all.

const provider = "https://id.example.test/.well-known/jwks.json";

async function loadConfig(env: Record<string, string>) {
  vi.resetModules();
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  return import("../../functions/shared/config.ts");
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe("configuration read at cold start", () => {
  it.each([
    [{ JWKS_URL: provider }, "JWKS_URL is set without JWT_ISSUER and JWT_AUDIENCE:"],
    [{ JWKS_URL: provider, JWT_ISSUER: "https://id.example.test/" }, "JWKS_URL is set without JWT_AUDIENCE:"],
    [{ JWKS_URL: provider, JWT_AUDIENCE: "sessions", JWT_ISSUER: "" }, "JWKS_URL is set without JWT_ISSUER:"],
  ])("refuses %j", async (env, message) => {
    await expect(loadConfig(env)).rejects.toThrow(message);
  });

  it("accepts a key set with both an issuer and an audience, and issuer and audience without a key set", async () => {
    const full = await loadConfig({
      JWKS_URL: provider,
      JWT_ISSUER: "https://id.example.test/",
      JWT_AUDIENCE: "api",
    });
    expect(full.config).toMatchObject({ jwksUrl: provider, jwtAudience: "api" });
    const none = await loadConfig({
      JWKS_URL: "",
      JWT_ISSUER: "https://id.example.test/",
      JWT_AUDIENCE: "api",
    });
    expect(none.config.jwksUrl).toBeUndefined();
  });
});
