// The Chromium side of `make bench-network` (benches/network.rs drives it):
// headless Chromium pages of the web debug page against the bench's server,
// one JSON request per stdin line, one `@reply {...}` line per request on
// stdout (anything else on stdout is ignored; logs go to stderr).
//
// Requests: {op: "ready"}; {op: "publish", key, room, user, stream} (720p30 test
// pattern, waits for Publishing); {op: "play", key, room, user, stream}
// (autoplay, waits for the first stamped frame); {op: "read", key, stream}
// -> {frames: [{captureTimeUs, presentedUs}], stats: [{atUs, height,
// concealed, samples}]}; {op: "close", key}; {op: "quit"}.
//
// Each page has a browser context, and so a window, of its own: headless
// Chromium draws only the front tab of a window, and a player page behind
// another tab presented ~2 of the 30 frames per second it decoded (its
// requestAnimationFrame ran once in 500 ms), so the weak-player scenario's
// four players read 1.5 fps.
//
// The server announces only the impairment relay's address. An init script
// keeps each page's host candidates to itself (as native engines do with
// announce_local_candidates = false), so the SFU reaches the page only
// through the relay, and samples the inbound stats every 250 ms. At each
// read every page's loss-repair counters (NACKs, retransmissions, FEC,
// concealment, the publisher's layers and estimate, frames presented and
// stamps read) go to stderr as one `network-bench repair <key>: {...}` line.
// Environment: CONFER_BIN (for `confer token mint`), CONFER_HTTP_URL,
// CONFER_APP_ID, CONFER_SECRET; BENCH_PAGE_MINRATE=<kbit/s> sets the
// publisher's estimate floor (the page's `?minrate=`).

import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, Server, chromiumPath, openPageAs, pageLogin, pagePublish, until, WAIT_MS } from "./harness.mjs";

/** Runs in every page before its scripts. */
function tapPeerConnections() {
  const Base = window.RTCPeerConnection;
  const pcs = [];
  const stats = [];
  window.__benchStats = stats;
  class Tapped extends Base {
    constructor(...args) {
      super(...args);
      pcs.push(this);
    }
    // Only the end-of-candidates (null) reaches the page's handler.
    set onicecandidate(handler) {
      super.onicecandidate = handler && ((e) => e.candidate === null && handler(e));
    }
    get onicecandidate() {
      return super.onicecandidate;
    }
  }
  window.RTCPeerConnection = Tapped;
  setInterval(async () => {
    const sample = { atUs: (performance.timeOrigin + performance.now()) * 1000, height: 0, concealed: 0, samples: 0 };
    for (const pc of pcs) {
      if (pc.connectionState === "closed") continue;
      (await pc.getStats()).forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        if (s.kind === "video") sample.height = Math.max(sample.height, s.frameHeight ?? 0);
        if (s.kind === "audio") {
          sample.concealed += s.concealedSamples ?? 0;
          sample.samples += s.totalSamplesReceived ?? 0;
        }
      });
    }
    stats.push(sample);
  }, 250);
  // The loss-repair counters of every connection (getStats, as
  // chrome://webrtc-internals shows them), summed by direction and kind.
  window.__benchRepair = async () => {
    const keys = {
      "inbound-rtp": ["packetsReceived", "packetsLost", "nackCount", "pliCount", "retransmittedPacketsReceived", "fecPacketsReceived", "concealedSamples", "totalSamplesReceived", "framesReceived", "framesDecoded", "framesDropped", "keyFramesDecoded", "freezeCount", "totalFreezesDuration", "jitterBufferDelay", "jitterBufferEmittedCount"],
      "outbound-rtp": ["packetsSent", "nackCount", "pliCount", "retransmittedPacketsSent", "framesEncoded"],
      "remote-inbound-rtp": ["packetsLost", "fractionLost"],
    };
    const out = {};
    for (const pc of pcs) {
      if (pc.connectionState === "closed") continue;
      const codecs = new Map();
      const report = await pc.getStats();
      report.forEach((s) => s.type === "codec" && codecs.set(s.id, `${s.mimeType} ${s.sdpFmtpLine ?? ""}`.trim()));
      report.forEach((s) => {
        if (!keys[s.type]) return;
        const at = `${s.type}/${s.kind}`;
        const sum = (out[at] ??= { codecs: [] });
        const codec = codecs.get(s.codecId);
        if (codec && !sum.codecs.includes(codec)) sum.codecs.push(codec);
        for (const k of keys[s.type]) if (typeof s[k] === "number") sum[k] = (sum[k] ?? 0) + s[k];
        if (s.type === "outbound-rtp" && s.kind === "video") {
          // Per simulcast layer: what the encoder makes and why it holds back.
          (out.layers ??= []).push({ rid: s.rid, h: s.frameHeight, packets: s.packetsSent, resent: s.retransmittedPacketsSent, nacks: s.nackCount, fps: s.framesPerSecond, frames: s.framesEncoded, target: s.targetBitrate, bytes: s.bytesSent, limit: s.qualityLimitationReason, active: s.active });
        }
        if (s.type === "candidate-pair" && s.nominated) out.availableOutgoingBitrate = s.availableOutgoingBitrate;
      });
    }
    return out;
  };
}

const server = Object.assign(Object.create(Server.prototype), {
  appId: Number(process.env.CONFER_APP_ID),
  secret: process.env.CONFER_SECRET,
  httpUrl: process.env.CONFER_HTTP_URL,
});
/** `BENCH_PAGE_MINRATE=<kbit/s>`: the publisher's estimate floor (the page's `?minrate=`). */
const minRate = process.env.BENCH_PAGE_MINRATE ? { minrate: process.env.BENCH_PAGE_MINRATE } : {};
/** `BENCH_PAGE_REPAIR_MS=<ms>`: the players' playout target while they repair (the page's `?repair_ms=`). */
const repairMs = process.env.BENCH_PAGE_REPAIR_MS ? { repair_ms: process.env.BENCH_PAGE_REPAIR_MS } : {};
const pages = new Map();
let browser = null;

/** A new browser context (a window of its own) for one page. */
async function context() {
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  await ctx.addInitScript(tapPeerConnections);
  return { context: ctx };
}

const handlers = {
  async ready() {
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
    return {};
  },
  async publish({ key, room, user, stream }) {
    const page = await openPageAs({ browser: await context(), server }, room, user, { source: "test", stream, pattern: "1280x720", ...minRate });
    pages.set(key, page);
    await pageLogin(page);
    await pagePublish(page);
    return {};
  },
  async play({ key, room, user, stream }) {
    // Uncapped like the native players: the page's small tile would ask
    // for the low simulcast layer by its size.
    const page = await openPageAs({ browser: await context(), server }, room, user, { autoplay: "1", layer: "high", ...repairMs });
    pages.set(key, page);
    await pageLogin(page);
    await until(
      `${key} reads ${stream}`,
      async () => (await page.evaluate((s) => window.conferDebug.frames(s).length, stream)) > 0,
      WAIT_MS,
      200,
    );
    return {};
  },
  async read({ key, stream }) {
    const page = pages.get(key);
    for (const [name, p] of pages) {
      const repair = await p.evaluate(async (s) => ({
        ...(await window.__benchRepair()),
        // Frames the page presented, and those whose stamp it read.
        presented: window.conferDebug.presented(s),
        reads: window.conferDebug.frames(s).length,
      }), stream);
      console.error(`network-bench repair ${name}: ${JSON.stringify(repair)}`);
    }
    return page.evaluate((s) => ({ frames: window.conferDebug.frames(s), stats: window.__benchStats }), stream);
  },
  async close({ key }) {
    await pages.get(key)?.context().close();
    pages.delete(key);
    return {};
  },
  async quit() {
    await browser?.close();
    return {};
  },
};

const reply = (body) => process.stdout.write(`@reply ${JSON.stringify(body)}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const request = JSON.parse(line);
  try {
    reply(await handlers[request.op](request));
  } catch (e) {
    console.error(`network-bench ${request.op}: ${e?.stack ?? e}`);
    reply({ error: String(e?.message ?? e) });
  }
  if (request.op === "quit") break;
}
process.exit(0);
