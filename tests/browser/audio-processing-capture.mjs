// Chromium's own microphone processing on a file (issue 16's comparison):
// headless Chromium captures `input.wav` through its fake audio device
// (--use-fake-device-for-media-stream --use-file-for-fake-audio-capture),
// once per set of getUserMedia constraints, and records what the track
// delivers (after Chromium's echo cancellation, noise suppression and gain
// control) at 48 kHz. benches/audio_processing.rs runs this and scores the
// recordings against the clean speech with the same measures as Confer's.
//
// Usage: node audio-processing-capture.mjs INPUT.wav SECONDS OUT_DIR
//        [--far FAR.wav]   (played by the page while capturing: the echo case)
// Writes OUT_DIR/<name>.f32 (raw little-endian float32 mono, 48 kHz) for
// each name in CONFIGS and prints one "<name> <path>" line per recording.

import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const [input, secondsArg, outDir, ...rest] = process.argv.slice(2);
if (!input || !secondsArg || !outDir) {
  console.error("usage: node audio-processing-capture.mjs INPUT.wav SECONDS OUT_DIR [--far FAR.wav]");
  process.exit(2);
}
const seconds = Number(secondsArg);
const far = rest[0] === "--far" ? resolve(rest[1]) : null;
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Chromium's processing switches per recording. */
const CONFIGS = {
  off: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  ns: { echoCancellation: false, noiseSuppression: true, autoGainControl: false },
  all: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  aec: { echoCancellation: true, noiseSuppression: false, autoGainControl: false },
};

// The page: records the processed track with an AudioWorklet; optionally
// plays the far end (through the audio output Chromium's echo canceller
// takes its reference from).
const WORKLET = `registerProcessor("rec", class extends AudioWorkletProcessor {
  process(inputs) { const c = inputs[0] && inputs[0][0]; if (c) this.port.postMessage(c.slice(0)); return true; }
});`;
const PAGE = `<!doctype html><meta charset="utf-8"><title>capture</title><script>
window.record = async (constraints, seconds, playFar) => {
  // The far end starts first: the fake capture starts the file when the
  // stream opens, so its echo lags what is played by ~0.3 s.
  let far = null;
  if (playFar) {
    far = new Audio("/far.wav");
    far.loop = true;
    await far.play();
    await new Promise((r) => setTimeout(r, 300));
  }
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { ...constraints, channelCount: 1, sampleRate: 48000 } });
  const ctx = new AudioContext({ sampleRate: 48000 });
  await ctx.audioWorklet.addModule("/worklet.js");
  const node = new AudioWorkletNode(ctx, "rec");
  const chunks = [];
  node.port.onmessage = (e) => chunks.push(e.data);
  ctx.createMediaStreamSource(stream).connect(node);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stream.getTracks().forEach((t) => t.stop());
  if (far) far.pause();
  await ctx.close();
  const n = chunks.reduce((a, c) => a + c.length, 0);
  const all = new Float32Array(n);
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  const settings = stream.getAudioTracks()[0].getSettings();
  // Base64 of the raw float32 bytes (page.evaluate returns JSON).
  const bytes = new Uint8Array(all.buffer);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return { pcm: btoa(bin), sampleRate: ctx.sampleRate, settings };
};
</script>`;

const server = createServer((req, res) => {
  if (req.url === "/worklet.js") {
    res.writeHead(200, { "content-type": "text/javascript" });
    res.end(WORKLET);
  } else if (req.url === "/far.wav" && far) {
    res.writeHead(200, { "content-type": "audio/wav" });
    res.end(readFileSync(far));
  } else {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(PAGE);
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${server.address().port}/`;

const profile = mkdtempSync(join(tmpdir(), "confer-apm-chromium-"));
let context;
let failed = false;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      `--use-file-for-fake-audio-capture=${resolve(input)}`,
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
  const page = await context.newPage();
  await page.goto(url);
  for (const [name, constraints] of Object.entries(CONFIGS)) {
    if (name === "aec" && !far) continue;
    const r = await page.evaluate(([c, s, f]) => window.record(c, s, f), [constraints, seconds, !!far]);
    if (r.sampleRate !== 48000) throw new Error(`recorded at ${r.sampleRate} Hz, not 48000`);
    const path = join(outDir, `${name}.f32`);
    writeFileSync(path, Buffer.from(r.pcm, "base64"));
    console.error(`${name}: track settings ${JSON.stringify(r.settings)}`);
    console.log(`${name} ${path}`);
  }
} catch (e) {
  failed = true;
  console.error(`chromium capture failed: ${e?.stack ?? e}`);
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  server.close();
}
process.exit(failed ? 1 : 0);
