// Simulcast (issue 15 part 2) through the SFU, seen from headless Chromium:
// a native 720p publisher's layers played by the page with and without a
// layer cap, and the page itself publishing three layers to a full-size
// player and a low-capped one. Asserted on the frame sizes the <video>
// elements decode (videoWidth / videoHeight).

import assert from "node:assert/strict";
import { test } from "node:test";
import { openPageAs, pageLogin, pagePublish, screenshot, serverAndBrowserForTests, until, waitPageEvent } from "./harness.mjs";

const env = serverAndBrowserForTests();

/** Simulcast layers reach full size only once the publisher's estimate affords them: generous. */
const LAYER_WAIT_MS = 90_000;

/** The size of the picture the page's <video> shows for a stream now. */
function videoSize(page, streamId) {
  return page.evaluate((id) => window.conferDebug.videoSize(id), streamId);
}

/** Waits until the page shows the stream at a size that `ok` accepts; returns it (the failure names the last size seen). */
async function waitSize(page, streamId, what, ok) {
  let last = null;
  return until(`${streamId} ${what}`, async () => {
    last = await videoSize(page, streamId);
    return last && last.height > 0 && ok(last) ? last : null;
  }, LAYER_WAIT_MS, 250).catch((e) => {
    throw new Error(`${e.message} (last shown: ${last ? `${last.width}x${last.height}` : "nothing"})`);
  });
}

/** Picks a fixed layer in a tile's Layer menu; the engine takes it as the stream's cap. */
async function pickLayer(page, streamId, layer) {
  await page.selectOption(`.tile[data-stream="${streamId}"] select[data-action="layer"]`, layer);
  assert.equal((await page.evaluate(() => window.conferDebug.layers()))[streamId], layer);
}

test("a native 720p publisher's layers: the browser decodes 720p uncapped, 180p capped to low, 720p again", async () => {
  const room = "simulcast-native";
  const native = env.server.call(room, "nat", ["--publish", "nat-hd", "--preset", "720p", "--audio", "none"]);
  const page = await openPageAs(env, room, "web", { autoplay: "1", layer: "high" });
  try {
    await native.waitPublishing();
    await pageLogin(page);
    await waitPageEvent(page, "Playing nat-hd", (e) => e.name === "onPlayerStateUpdate" && e.state === "Playing");
    const full = await waitSize(page, "nat-hd", "at 720p", (s) => s.height >= 720);
    assert.deepEqual(full, { width: 1280, height: 720 });
    await until("frames read at 720p", async () => (await page.evaluate(() => window.conferDebug.frames("nat-hd"))).length >= 20);

    await pickLayer(page, "nat-hd", "low");
    const low = await waitSize(page, "nat-hd", "at the low layer", (s) => s.height <= 180);
    assert.deepEqual(low, { width: 320, height: 180 });
    // Still decoding after the switch: the presented-frame count keeps rising.
    const before = await page.evaluate(() => window.conferDebug.presented("nat-hd"));
    await until("frames presented at the low layer", async () => (await page.evaluate(() => window.conferDebug.presented("nat-hd"))) >= before + 30);

    await pickLayer(page, "nat-hd", "high");
    await waitSize(page, "nat-hd", "back at 720p", (s) => s.height >= 720);
    await screenshot(page, "web-debug-simulcast-native");
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await native.stop();
    await page.close();
  }
});

test("a browser publishes three layers; a full-size player gets 720p, a low-capped one 180p", async () => {
  const room = "simulcast-web";
  const publisher = await openPageAs(env, room, "pub", { source: "test", pattern: "1280x720", stream: "web-hd" });
  const full = await openPageAs(env, room, "full", { autoplay: "1", layer: "high" });
  const low = await openPageAs(env, room, "low", { autoplay: "1", layer: "low" });
  try {
    await pageLogin(publisher);
    await pagePublish(publisher);
    // Chromium sends the three rids (lowest first) in one video transceiver.
    const rids = await until("three outbound layers", async () => {
      const r = await publisher.evaluate(async () => {
        const out = [];
        (await window.conferDebug.engine().publisherConnection().getStats()).forEach((s) => {
          if (s.type === "outbound-rtp" && s.kind === "video" && s.rid) out.push(s.rid);
        });
        return out.sort();
      });
      return r.length === 3 ? r : null;
    });
    assert.deepEqual(rids, ["f", "h", "q"]);
    for (const p of [full, low]) await pageLogin(p);
    for (const p of [full, low]) {
      await waitPageEvent(p, "Playing web-hd", (e) => e.name === "onPlayerStateUpdate" && e.state === "Playing");
    }
    assert.deepEqual(await waitSize(full, "web-hd", "at 720p", (s) => s.height >= 720), { width: 1280, height: 720 });
    assert.deepEqual(await waitSize(low, "web-hd", "at the low layer", (s) => s.height <= 180 && s.height > 0), { width: 320, height: 180 });
    // The low player stays low while the full one keeps its 720p.
    await until("frames read by the full-size player", async () => (await full.evaluate(() => window.conferDebug.frames("web-hd"))).length >= 20);
    assert.equal((await videoSize(low, "web-hd")).height, 180);
    assert.equal((await videoSize(full, "web-hd")).height, 720);
    await screenshot(low, "web-debug-simulcast-low-player");
    for (const p of [publisher, full, low]) assert.deepEqual(p.consoleErrors, []);
  } finally {
    for (const p of [publisher, full, low]) await p.close();
  }
});
