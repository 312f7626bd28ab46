import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { devSecret, devToken } from "../lib/dev-secret.ts";

// `npm run token -- --sub alice [--admin] [--ttl 3600] [--sid <session id>]`: a dev JWT signed with the
// local secret (JWT_SECRET, or the one `npm start` keeps in the data folder).

const USAGE = "usage: npm run token -- --sub <user id> [--admin] [--ttl <seconds>] [--sid <session id>]";

function options() {
  try {
    return parseArgs({
      options: {
        sub: { type: "string" },
        admin: { type: "boolean", default: false },
        ttl: { type: "string", default: "3600" },
        sid: { type: "string" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const values = options();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.sub) {
  console.error(USAGE);
  process.exit(2);
}
const ttl = Number(values.ttl);
if (!Number.isSafeInteger(ttl) || ttl <= 0) {
  console.error("--ttl must be a positive integer number of seconds");
  process.exit(2);
}
const secret = devSecret(resolve(process.env.LOCAL_DATA_DIR ?? ".data"));
console.log(
  await devToken(secret, {
    sub: values.sub,
    admin: values.admin,
    ttlSeconds: ttl,
    ...(values.sid && { sid: values.sid }),
  }),
);
