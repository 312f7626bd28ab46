import { Logger } from "@aws-lambda-powertools/logger";

// The events function is off the request path: it builds its Powertools logger at import, and its
// lines are written as they are asked for (the request path's facade, functions/shared/logger.ts,
// defers that work to the first request's network wait).
export const logger = new Logger({ serviceName: "sessions" });
