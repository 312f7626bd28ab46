#!/usr/bin/env node
import { main } from "../lib/sessions-cli.ts";

// `npx sessions <command>` (package.json `bin`): see `npx sessions --help`. Node 24 runs this
// TypeScript file itself (type stripping); npx puts the project's Node 24 first on the PATH.

process.exitCode = await main(process.argv.slice(2), {
  env: process.env,
  out: (line) => console.log(line),
  err: (line) => console.error(line),
});
