// Removes build output directories given on the command line (inside ui/ only).
import { rmSync } from "node:fs";
import { resolve, relative } from "node:path";

const root = resolve(import.meta.dirname, "..");
for (const arg of process.argv.slice(2)) {
  const dir = resolve(root, arg);
  const rel = relative(root, dir);
  if (rel === "" || rel.startsWith("..")) throw new Error(`refusing to remove ${dir}`);
  rmSync(dir, { recursive: true, force: true });
}
