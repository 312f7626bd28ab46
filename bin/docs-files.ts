import { docsFileNames, isDocsFileName, writeDocsFiles } from "../lib/docs.ts";

// `node bin/docs-files.ts <dir> [name…]`: writes the docs functions' files into <dir>. The stack's
// bundling runs it after esbuild (lib/endpoint-function.ts), so they land beside the bundle.

const [dir, ...names] = process.argv.slice(2);
const unknown = names.filter((name) => !isDocsFileName(name));
if (!dir || unknown.length > 0) {
  console.error(`usage: node bin/docs-files.ts <dir> [${docsFileNames().join(" | ")}]…`);
  process.exit(2);
}
writeDocsFiles(dir, names.length > 0 ? names.filter(isDocsFileName) : docsFileNames());
