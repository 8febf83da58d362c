// Glass-to-glass latency through the SFU in one run, one figure per line:
// browser -> native, native -> browser and native -> native, all 640x360,
// measured from the barcode's capture time to the frame's presentation
// (native: `confer call --probe`; browser: requestVideoFrameCallback on a
// canvas copy of the <video>). Publisher and players share this machine's
// clock. `make bench-browser` runs it with a release `confer`.

import { openPageAs, pageLogin, pagePublish, sleep, startServerAndBrowser, stopServerAndBrowser, until } from "./harness.mjs";
import { chromiumPath, confer } from "./harness.mjs";

const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 4000);
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 15000);

function pct(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function report(name, latencies) {
  console.log(`g2g_${name}_frames ${latencies.length}`);
  console.log(`g2g_${name}_p50_ms ${pct(latencies, 0.5).toFixed(1)}`);
  console.log(`g2g_${name}_p95_ms ${pct(latencies, 0.95).toFixed(1)}`);
}

const { server, browser } = await startServerAndBrowser();
let failed = false;
try {
  console.error(`bench-browser: ${confer}, ${chromiumPath}`);
  const room = "bench";
  const publisher = server.call(room, "nat-pub", ["--publish", "nat-cam"]);
  const player = server.call(room, "nat-play", ["--play", "auto", "--probe"]);
  const page = await openPageAs({ browser, server }, room, "web", { source: "test", stream: "web-cam", autoplay: "1" });
  await publisher.waitPublishing();
  await pageLogin(page);
  await pagePublish(page);
  await until("the native player decodes web-cam", () => player.probes("video", "web-cam").length > 0);
  await until("the native player decodes nat-cam", () => player.probes("video", "nat-cam").length > 0);
  await until("the browser reads nat-cam", async () => (await page.evaluate(() => window.conferDebug.frames("nat-cam"))).length > 0);
  await sleep(WARMUP_MS);
  const t0 = Date.now() * 1000;
  await sleep(MEASURE_MS);
  const t1 = Date.now() * 1000;
  const inWindow = (us) => us >= t0 && us <= t1;
  const nativeOf = (stream) =>
    player
      .probes("video", stream)
      .filter((p) => inWindow(p.capture_time_us))
      .map((p) => p.latency_ms);
  const browserReads = (await page.evaluate(() => window.conferDebug.frames("nat-cam")))
    .filter((f) => inWindow(f.captureTimeUs))
    .map((f) => f.latencyMs);
  report("browser_to_native", nativeOf("web-cam"));
  report("native_to_browser", browserReads);
  report("native_to_native", nativeOf("nat-cam"));
  await Promise.all([publisher.stop(), player.stop()]);
} catch (e) {
  failed = true;
  console.error(`bench-browser failed: ${e?.stack ?? e}`);
} finally {
  await stopServerAndBrowser({ server, browser });
}
process.exit(failed ? 1 : 0);
