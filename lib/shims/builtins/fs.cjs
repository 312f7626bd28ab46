// See lib/bundle.ts: a CommonJS view of node:fs, so importing it does not build its ES module facade.
module.exports = process.getBuiltinModule("node:fs");
