// Run by tests/real_networks.rs inside a client's network namespace (not a
// node test of its own): trusts the test CA the way a managed desktop does
// (an NSS store in a fresh $HOME, which Chromium reads), opens the debug
// page over https, logs in with the given token, publishes the canvas test
// pattern, and prints JSON lines on stdout: {"event":"publishing"}, then
// {"event":"path","path":{...}} each time the page's quality sample names
// its media path. Runs until killed (or 90 s).
//
// Environment: PAGE_URL (https://host:port), APP_ID, ROOM, USER, TOKEN,
// STREAM, CA_FILE.

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchBrowser, openPage, pageLogin, pagePublish, sleep } from "./harness.mjs";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const home = mkdtempSync(join(tmpdir(), "confer-netns-home-"));
const nssdb = join(home, ".pki", "nssdb");
mkdirSync(nssdb, { recursive: true });
execFileSync("certutil", ["-N", "--empty-password", "-d", `sql:${nssdb}`]);
execFileSync("certutil", ["-A", "-d", `sql:${nssdb}`, "-n", "confer-test-ca", "-t", "C,,", "-i", env("CA_FILE")]);
process.env.HOME = home;

const browser = await launchBrowser();
const params = { room: env("ROOM"), user: env("USER"), token: env("TOKEN"), source: "test", stream: env("STREAM") };
// A fresh namespace's interface settles (IPv6 duplicate address detection)
// a moment after it comes up; Chromium sees that as a network change and
// aborts a navigation in flight with ERR_NETWORK_CHANGED. Load again then.
let page;
for (let attempt = 1; !page; attempt++) {
  try {
    page = await openPage(browser, { httpUrl: env("PAGE_URL"), appId: env("APP_ID") }, params);
  } catch (e) {
    if (attempt >= 5 || !/ERR_NETWORK_CHANGED/.test(String(e))) throw e;
    await sleep(1000);
  }
}
say({ event: "page", protocol: await page.evaluate(() => location.protocol) });
await pageLogin(page);
await pagePublish(page);
say({ event: "publishing" });
const stream = env("STREAM");
const deadline = Date.now() + 90_000;
while (Date.now() < deadline) {
  const q = await page.evaluate(() => window.conferDebug.quality());
  const path = q[stream]?.quality?.path;
  if (path) say({ event: "path", path });
  await sleep(1000);
}
await browser.close();
