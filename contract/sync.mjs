// Copies generated TypeScript files from the one committed folder
// (contract/ts/, written by `cargo run -p contract`) into a build's
// git-ignored generated/ folder, which it first empties:
//   node <repo>/contract/sync.mjs <dest>/generated events error-codes ...
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { basename, join, resolve } from "node:path";

const source = join(import.meta.dirname, "ts");
const [dest, ...names] = process.argv.slice(2);
if (!dest || basename(resolve(dest)) !== "generated" || names.length === 0) {
  console.error("usage: node contract/sync.mjs <dir>/generated <name>... (names of contract/ts/*.ts)");
  process.exit(2);
}
rmSync(dest, { recursive: true, force: true });
mkdirSync(dest, { recursive: true });
for (const name of names) copyFileSync(join(source, `${name}.ts`), join(dest, `${name}.ts`));
