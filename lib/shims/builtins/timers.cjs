// See lib/bundle.ts: a CommonJS view of node:timers, so importing it does not build its ES module facade.
module.exports = process.getBuiltinModule("node:timers");
