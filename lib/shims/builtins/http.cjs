// See lib/bundle.ts: a CommonJS view of node:http, so importing it does not build its ES module facade.
module.exports = process.getBuiltinModule("node:http");
