// Dev only: screenshots of the UI in headless Chromium with the fake Tauri
// (dev/mock-tauri.js), driven over the DevTools protocol in real time.
// `npm run screenshots [-- scenario:theme[:WxH] ...]`; PNGs go to $SHOTS_DIR
// (default /tmp/confer-ui-shots). Console errors and exceptions are printed.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer } from "./serve.mjs";
import { chromiumPath, launch, sleep } from "./cdp.mjs";

const out = process.env.SHOTS_DIR ?? "/tmp/confer-ui-shots";
const dpr = Number(process.env.DPR ?? 1);
mkdirSync(out, { recursive: true });
if (!chromiumPath) {
  console.log("no chromium found; skipping screenshots");
  process.exit(0);
}

const defaults = [
  "home:light", "home:dark", "home:high-contrast", "nocamera:light", "hoststop:dark",
  "solo:dark", "spotlight:dark", "duo:dark", "duo-off:light:900x600", "muted:dark", "muted:light", "muted:dark:700x600", "call:dark", "call:light", "grid:dark", "grid:light",
  "speaker:dark", "speaker:light", "speaker:dark:700x900", "pinned:dark", "pinned:light",
  "chat:dark", "chat:light", "people:dark", "grid:dark:700x600", "call:dark:1920x1080", "stats:dark", "reconnecting:dark", "kicked:dark", "leave:light", "menu:dark", "help:dark",
];
const jobs = process.argv.slice(2).length ? process.argv.slice(2) : defaults;
const server = await startServer(0);
const port = server.address().port;
const browser = await launch();
let problems = 0;

try {
  for (const job of jobs) {
    const [scenario, theme = "dark", size = "1100x720"] = job.split(":");
    const [w, h] = size.split("x").map(Number);
    const page = await browser.page(w, h, dpr);
    await page.goto(`http://127.0.0.1:${port}/?scenario=${scenario}&theme=${theme}`);
    // muted: the "You're muted" hint needs 0.6 s of talking after the mic was turned off.
    await sleep({ home: 900, muted: 2400 }[scenario] ?? 1600);
    const file = join(out, `${scenario}-${theme}${size === "1100x720" ? "" : "-" + size}.png`);
    writeFileSync(file, await page.screenshot());
    const logs = page.logs.filter((l) => !l.includes("[DOM] Password field"));
    problems += logs.filter((l) => /^(error|exception|log)/.test(l)).length;
    console.log(file + (logs.length ? "\n  " + logs.join("\n  ") : ""));
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
process.exitCode = problems ? 1 : 0;
