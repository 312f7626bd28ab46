import { json, publicRoute } from "./shared/http.ts";

export const handler = publicRoute().handler(async () => json({ status: "ok" }));
