// Shared helpers of the browser tests and bench: a `confer serve` on
// 127.0.0.1 with a temporary config, native `confer call` participants
// printing JSON lines, tokens from `confer token mint`, and headless
// Chromium (the Debian package) driven by playwright-core.

import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, "target");
export const confer = process.env.CONFER_BIN ?? join(targetDir, "debug", "confer");
export const artifacts = resolve(root, process.env.CONFER_ARTIFACTS ?? "artifacts");
export const chromiumPath =
  process.env.CHROMIUM ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

/** How long any single expected thing may take before a test fails. */
export const WAIT_MS = 45_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` until it returns a truthy value; throws after `ms` with `what`. */
export async function until(what, f, ms = WAIT_MS, every = 100) {
  const deadline = Date.now() + ms;
  let last;
  for (let i = 0; Date.now() < deadline; i++) {
    last = await f();
    if (last) return last;
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

const children = new Set();

function track(child) {
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

/** Kills every child still running (tests call it in `after`). */
export async function killAll() {
  for (const c of [...children]) c.kill("SIGKILL");
  await sleep(50);
}
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** Lines of a child's stdout, with waiting helpers. */
class Lines {
  constructor(stream, name) {
    this.all = [];
    this.waiters = [];
    this.name = name;
    createInterface({ input: stream }).on("line", (line) => {
      this.all.push(line);
      for (const w of [...this.waiters]) w();
    });
  }

  /** Waits for a line matching `pred` (strings or parsed JSON objects). */
  async wait(what, pred, ms = WAIT_MS) {
    return until(`${this.name}: ${what}`, () => this.all.find(pred), ms);
  }
}

/** A running `confer serve`. */
export class Server {
  /** With `tls`, a self-signed certificate: https and wss, pinned by native calls. */
  static async start({ tls = false } = {}) {
    const dir = mkdtempSync(join(tmpdir(), "confer-browser-"));
    const config = join(dir, "server.toml");
    const args = ["serve", "--config", config, "--bind", "127.0.0.1:0", ...(tls ? ["--tls-self-signed"] : [])];
    const child = track(
      spawn(confer, args, {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
      }),
    );
    const server = new Server(child, dir, config);
    child.stderr.on("data", (d) => server.stderr.push(String(d)));
    const lines = new Lines(child.stdout, "confer serve");
    const listening = await lines.wait("listening", (l) => l.includes("listening on"));
    server.wsUrl = listening.match(/(wss?:\/\/\S+)/)[1];
    server.httpUrl = server.wsUrl.replace(/^ws/, "http").replace(/\/ws$/, "");
    if (tls) server.fingerprint = (await lines.wait("fingerprint", (l) => l.includes("SHA-256:"))).split("SHA-256:")[1].trim();
    await lines.wait("started", (l) => l.includes("Press Ctrl-C"));
    // The AppSign is never printed: read the config file, as an operator would.
    const toml = readFileSync(config, "utf8");
    server.appId = Number(toml.match(/app_id\s*=\s*(\d+)/)[1]);
    server.appSign = toml.match(/app_sign\s*=\s*"([^"]+)"/)[1];
    server.secret = toml.match(/server_secret\s*=\s*"([^"]+)"/)[1];
    return server;
  }

  constructor(child, dir, config) {
    this.child = child;
    this.dir = dir;
    this.config = config;
    this.stderr = [];
  }

  /** A token from `confer token mint` (ttl 0 = already expired). */
  token(user, { room, ttl = 3600, publish = true } = {}) {
    const args = ["token", "mint", "--app-id", String(this.appId), "--secret", this.secret, "--user", user];
    if (room) args.push("--room", room);
    if (!publish) args.push("--no-publish");
    args.push("--ttl", String(ttl));
    return execFileSync(confer, args, { encoding: "utf8" }).trim();
  }

  /** Starts a native participant (`confer call`) with `extra` arguments (and `env` on top of ours). */
  call(room, user, extra = [], { env = {} } = {}) {
    const child = track(
      spawn(
        confer,
        [
          "call",
          "--server",
          this.wsUrl,
          "--app-id",
          String(this.appId),
          "--room",
          room,
          "--user",
          user,
          "--media-ip",
          "127.0.0.1",
          ...(this.fingerprint ? ["--pin", this.fingerprint] : []),
          ...extra,
        ],
        { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CONFER_APP_SIGN: this.appSign, ...env } },
      ),
    );
    return new Call(child, user);
  }

  async stop() {
    this.child.kill("SIGTERM");
    await Promise.race([new Promise((r) => this.child.once("exit", r)), sleep(8000)]);
    this.child.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A running `confer call`: its JSON lines (SDK events and probe lines). */
export class Call {
  constructor(child, user) {
    this.child = child;
    this.user = user;
    this.lines = new Lines(child.stdout, `confer call ${user}`);
    this.stderr = [];
    child.stderr.on("data", (d) => this.stderr.push(String(d)));
    this.exited = new Promise((r) => child.once("exit", (code) => r(code)));
  }

  /** Every line that parses as JSON. */
  get json() {
    const out = [];
    for (const l of this.lines.all) {
      try {
        out.push(JSON.parse(l));
      } catch {
        // not JSON
      }
    }
    return out;
  }

  /** SDK events (lines with an "event" field). */
  get events() {
    return this.json.filter((j) => typeof j.event === "string");
  }

  /** Probe lines of `kind` ("video" / "audio") for a stream. */
  probes(kind, streamId) {
    return this.json.filter((j) => j.probe === kind && (!streamId || j.stream_id === streamId));
  }

  async waitEvent(what, pred, ms = WAIT_MS) {
    return until(`${this.user}: ${what}`, () => this.events.find(pred), ms);
  }

  /** Waits until the call's publisher is Publishing. */
  async waitPublishing() {
    return this.waitEvent("Publishing", (e) => e.event === "PublisherStateUpdate" && e.state === "Publishing");
  }

  /** Logs out (SIGTERM) and waits for the process to end. */
  async stop() {
    this.child.kill("SIGTERM");
    await Promise.race([this.exited, sleep(10_000)]);
    this.child.kill("SIGKILL");
  }
}

/** Chromium flags for WebRTC tests (RECIPES.md, "Headless Chromium for WebRTC tests"). */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--no-first-run",
  "--disable-background-networking",
  "--allow-loopback-in-peer-connection",
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  "--autoplay-policy=no-user-gesture-required",
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
];

/**
 * Chromium flags for a browser whose getDisplayMedia shares, without a
 * prompt, the tab titled `title` (headless works). The fake media flags go:
 * with them getDisplayMedia gives Chromium's fake screen or fails.
 */
export function tabCaptureArgs(title) {
  return [
    ...CHROMIUM_ARGS.filter((a) => !a.startsWith("--use-fake-")),
    `--auto-select-tab-capture-source-by-title=${title}`,
  ];
}

/**
 * A Chromium with a fresh profile: headless with {@link CHROMIUM_ARGS} by
 * default (`ignoreHTTPSErrors` for a self-signed server); `args`, `headless`,
 * `env` (e.g. an X display) and `viewport` (null: the window's size) override.
 */
export async function launchBrowser({
  ignoreHTTPSErrors = false,
  args = CHROMIUM_ARGS,
  headless = true,
  env = {},
  viewport = { width: 1360, height: 900 },
} = {}) {
  if (!chromiumPath) throw new Error("no chromium found (apt-get install chromium)");
  const profile = mkdtempSync(join(tmpdir(), "confer-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless,
    args,
    env: { ...process.env, ...env },
    ignoreHTTPSErrors,
    viewport,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the debug page with URL parameters (app_id, room, user, token, ...). */
export async function openPage(browser, server, params) {
  const page = await browser.context.newPage();
  page.consoleErrors = [];
  page.on("console", (m) => {
    if (m.type() === "error") page.consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => page.consoleErrors.push(String(e)));
  const query = new URLSearchParams({ app_id: String(server.appId), ...params });
  await page.goto(`${server.httpUrl}/?${query}`);
  await page.waitForSelector("body[data-ready='1']");
  return page;
}

/**
 * Opens the page as `user` in `room` with a token the server mints for them
 * (`grants`: the token's other claims, e.g. `{ publish: false }`); `params`
 * are the page's other query parameters.
 */
export function openPageAs({ browser, server }, room, user, { grants = {}, ...params } = {}) {
  return openPage(browser, server, { room, user, token: server.token(user, { room, ...grants }), ...params });
}

/** The page's SDK event log. */
export function pageEvents(page) {
  return page.evaluate(() => window.conferDebug.log.map((e) => ({ name: e.name, ...e.data })));
}

export async function waitPageEvent(page, what, pred, ms = WAIT_MS) {
  return until(`page: ${what}`, async () => (await pageEvents(page)).find(pred), ms, 150);
}

/** Clicks the page's Login and waits until it is Connected. */
export async function pageLogin(page) {
  await page.click("#login");
  await waitPageEvent(page, "Connected", (e) => e.name === "onRoomStateUpdate" && e.state === "Connected");
}

/** Clicks the page's Publish and waits until it is Publishing. */
export async function pagePublish(page) {
  await page.click("#publish");
  await waitPageEvent(page, "Publishing", (e) => e.name === "onPublisherStateUpdate" && e.state === "Publishing");
}

/** A `confer serve` and a headless Chromium, for a test file or the bench. */
export async function startServerAndBrowser({ tls = false } = {}) {
  const server = await Server.start({ tls });
  const browser = await launchBrowser({ ignoreHTTPSErrors: tls });
  return { server, browser };
}

/**
 * A server and a browser for one test file's tests: started before them
 * (`options` as for `startServerAndBrowser`), stopped after them.
 */
export function serverAndBrowserForTests(options) {
  const env = {};
  before(async () => Object.assign(env, await startServerAndBrowser(options)));
  after(() => stopServerAndBrowser(env));
  return env;
}

/** Closes what `startServerAndBrowser` started (either may be missing) and kills every child. */
export async function stopServerAndBrowser({ server, browser }) {
  await browser?.close();
  await server?.stop();
  await killAll();
}

/**
 * A private X server (`Xvfb -displayfd`: it picks a free display number),
 * so a test never draws on the display it runs under. Resolves to
 * `{ display: ":N", stop() }`.
 */
export async function startXvfb({ width = 1280, height = 720 } = {}) {
  const child = track(
    spawn("Xvfb", ["-displayfd", "3", "-screen", "0", `${width}x${height}x24`, "-nolisten", "tcp"], {
      stdio: ["ignore", "ignore", "pipe", "pipe"],
    }),
  );
  let out = "";
  child.stdio[3].on("data", (d) => (out += String(d)));
  child.stderr.resume();
  await until("Xvfb's display number", () => /\d+\n/.test(out), 20_000, 50);
  return {
    display: `:${out.trim()}`,
    async stop() {
      child.kill("SIGTERM");
      await Promise.race([new Promise((r) => child.once("exit", r)), sleep(3000)]);
      child.kill("SIGKILL");
    },
  };
}

/** Saves a screenshot into the artifacts directory. */
export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  const file = join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The native event name -> the SDK callback name the page logs. */
export function callbackName(event) {
  if (event === "RoomBroadcastMessage") return "onIMRecvBroadcastMessage";
  if (event === "Debug") return "onDebugError";
  return `on${event}`;
}
