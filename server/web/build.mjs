// Builds the web debug page: the generated contract (contract/ts/) ->
// src/generated/ (git-ignored), the app's simulcast layer rule
// (ui/src/layer-caps.ts) -> src/layer-caps.ts (git-ignored: the page asks
// for layers as the app does), TypeScript (src/) -> dist/js/, static files
// (static/) -> dist/. Uses the TypeScript compiler installed by ui/ (pinned
// in ui/package-lock.json). The server embeds dist/ at compile time.
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";

const here = dirname(fileURLToPath(import.meta.url));
const tsc = join(here, "..", "..", "ui", "node_modules", ".bin", "tsc");
if (!existsSync(tsc)) {
  console.error(`web: ${tsc} is missing; run \`make deps\` (npm ci in ui/) first`);
  process.exit(1);
}
const dist = join(here, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const sync = join(here, "..", "..", "contract", "sync.mjs");
const generated = ["error-codes", "events", "protocol"];
execFileSync(process.execPath, [sync, join(here, "src", "generated"), ...generated], { stdio: "inherit" });
copyFileSync(join(here, "..", "..", "ui", "src", "layer-caps.ts"), join(here, "src", "layer-caps.ts"));
execFileSync(tsc, ["-p", join(here, "tsconfig.json")], { stdio: "inherit" });
for (const name of readdirSync(join(here, "static"))) {
  cpSync(join(here, "static", name), join(dist, name), { recursive: true });
}
console.log(`web: built ${dist}`);
