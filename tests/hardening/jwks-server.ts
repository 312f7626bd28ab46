import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

// A stand-in OIDC provider on loopback: serves a key set it can rotate, counts the fetches, and can
// answer errors, hang, or go away entirely.

export interface ProviderKey {
  kid: string;
  alg: "RS256" | "ES256";
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function providerKey(kid: string, alg: "RS256" | "ES256"): Promise<ProviderKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

export type JwksMode = "ok" | "error" | "hang";

export interface JwksServer {
  url: string;
  port: number;
  /** Times of every request received (ms since the epoch). */
  fetches: number[];
  keys: ProviderKey[];
  mode: JwksMode;
  close(): Promise<void>;
  /** Listens again on the same port after close(). */
  reopen(): Promise<void>;
}

export async function startJwksServer(keys: ProviderKey[], port = 0): Promise<JwksServer> {
  let server: Server;
  const state: JwksServer = {
    url: "",
    port,
    fetches: [],
    keys,
    mode: "ok",
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    reopen: () => listen(state.port),
  };
  const listen = (on: number) =>
    new Promise<void>((resolve, reject) => {
      server = createServer((_req, res) => {
        state.fetches.push(Date.now());
        if (state.mode === "hang") return;
        if (state.mode === "error") {
          res.writeHead(500, { "content-type": "text/plain" }).end("provider down");
          return;
        }
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ keys: state.keys.map((k) => k.publicJwk) }));
      });
      server.once("error", reject);
      server.listen(on, "127.0.0.1", () => {
        state.port = (server.address() as AddressInfo).port;
        state.url = `http://127.0.0.1:${state.port}/.well-known/jwks.json`;
        resolve();
      });
    });
  await listen(port);
  return state;
}

/** A token as the provider would issue it. */
export async function providerToken(
  key: ProviderKey,
  claims: Record<string, unknown>,
  options: { kid?: string; expiresIn?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: now, exp: now + (options.expiresIn ?? 600), ...claims })
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: "JWT" })
    .sign(key.privateKey);
}
