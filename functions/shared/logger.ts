import { Logger } from "@aws-lambda-powertools/logger";

// One logger per cold start. Nothing that authenticates (headers, tokens, digests, secrets) is ever
// passed to it: request lines carry ids, the route, the status and the duration only.
export const logger = new Logger({ serviceName: "sessions" });
