// Screen sharing between the web debug page and native `confer call`
// participants (issue 17, item 5), on the aux channel in both directions.
// What is shared is /web/pattern.html, the barcode test pattern, so the
// player numbers the frames it decodes:
// - the page shares a tab showing it: Chromium's getDisplayMedia picks the
//   tab by its title (`--auto-select-tab-capture-source-by-title`, headless;
//   no viewport emulation, so the capture has the size the pattern draws for);
//   a native player decodes the aux stream; the browser ending the capture
//   (the shared tab closes) and the page's "Stop sharing" each give the
//   native side stream Delete;
// - a native `confer call --share-screen` shares a private Xvfb screen that
//   a kiosk Chromium fills with the pattern; the page plays it big.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  Server,
  killAll,
  launchBrowser,
  openPageAs,
  pageEvents,
  pageLogin,
  screenshot,
  startXvfb,
  tabCaptureArgs,
  until,
  waitPageEvent,
} from "./harness.mjs";

const PATTERN_TITLE = "Confer test pattern";
/** The native share's screen: a multiple of 32 wide, so the barcode's blocks are whole pixels. */
const WIDTH = 640;
const HEIGHT = 360;

const env = {};
before(async () => {
  env.server = await Server.start();
  env.browser = await launchBrowser({ args: [...tabCaptureArgs(PATTERN_TITLE), "--window-size=1280,800"], viewport: null });
});
after(async () => {
  await env.browser?.close();
  await env.server?.stop();
  await killAll();
});

/** Frame numbers read in order: at least `min` distinct, never backwards, none beyond `max`. */
function assertFrames(numbers, { min, max, what }) {
  const distinct = new Set(numbers);
  assert.ok(distinct.size >= min, `${what}: only ${distinct.size} numbered frames decoded`);
  for (let i = 1; i < numbers.length; i++)
    assert.ok(numbers[i] >= numbers[i - 1], `${what}: frame numbers went backwards: ${numbers.join(",")}`);
  if (max !== undefined) assert.ok(Math.max(...numbers) <= max, `${what}: frame ${Math.max(...numbers)} > ${max}`);
}

/** A tab showing the pattern filling it. */
async function openPatternTab(label) {
  const tab = await env.browser.context.newPage();
  await tab.goto(`${env.server.httpUrl}/web/pattern.html?${new URLSearchParams({ label })}`);
  await tab.waitForSelector("body[data-ready='1']");
  return tab;
}

/** The page's outbound video RTP streams on its aux leg: one per layer sent. */
function auxVideoOutbound(page) {
  return page.evaluate(async () => {
    const pc = window.conferDebug.engine().publisherConnection("Aux");
    const out = [];
    (await pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video")
        out.push({ rid: s.rid ?? null, width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, sent: s.framesSent ?? 0 });
    });
    const sender = pc.getSenders().find((s) => s.track?.kind === "video");
    const params = sender.getParameters();
    return {
      out,
      encodings: params.encodings.map((e) => ({ rid: e.rid ?? null, maxBitrate: e.maxBitrate, maxFramerate: e.maxFramerate })),
      degradation: params.degradationPreference ?? null,
      hint: sender.track.contentHint,
    };
  });
}

const streamUpdate = (type, streamId) => (e) =>
  e.event === "RoomStreamUpdate" && e.update_type === type && e.streams.some((s) => s.stream_id === streamId);

test("the page shares a tab on the aux channel; a native player decodes it; stopping gives stream Delete", async () => {
  const room = "web-share";
  const shareId = "wsh-screen";
  let pattern = await openPatternTab("web share");
  const page = await openPageAs(env, room, "wsh", { share_hint: "detail" });
  const native = env.server.call(room, "nat", ["--play", "auto", "--probe", "--audio", "none"]);
  try {
    await pageLogin(page);
    await page.click("#share");
    await waitPageEvent(page, "sharing", (e) => e.name === "onPublisherStateUpdate" && e.stream_id === shareId && e.state === "Publishing");
    // The user's second stream, beside no main one; the share's state as the SDK's event.
    await waitPageEvent(page, "Capturing", (e) => e.name === "onScreenCaptureStateUpdate" && e.state === "Capturing" && e.error_code === 0);
    const share = await page.evaluate(() => window.conferDebug.share());
    assert.equal(share.streamId, shareId);
    assert.equal(share.settings.displaySurface, "browser");
    assert.equal(await page.isVisible("#share-tile"), true);
    const added = await native.waitEvent("stream Add", streamUpdate("Add", shareId));
    assert.equal(added.streams.find((s) => s.stream_id === shareId).user.user_id, "wsh");
    await native.waitEvent("Playing the share", (e) => e.event === "PlayerStateUpdate" && e.stream_id === shareId && e.state === "Playing");

    await until("20 shared frames decoded natively", () => new Set(native.probes("video", shareId).map((f) => f.frame_number)).size >= 20);
    const drawn = await pattern.evaluate(() => window.patternFrame());
    assertFrames(native.probes("video", shareId).map((f) => f.frame_number), { min: 20, max: drawn, what: "page share -> native" });

    // One layer at the tab's own size, the detail hint's rate and bitrate (media.ts: the SDK's 1.2 bit/pixel/s).
    const sent = await until("the aux leg's stats", async () => {
      const s = await auxVideoOutbound(page);
      return s.out.some((o) => o.width > 0) ? s : null;
    });
    const [width, height] = await pattern.evaluate(() => [innerWidth & ~1, innerHeight & ~1]);
    assert.equal(sent.hint, "detail");
    assert.equal(sent.encodings.length, 1, `one encoding: ${JSON.stringify(sent.encodings)}`);
    assert.equal(sent.encodings[0].maxFramerate, 5);
    assert.equal(sent.encodings[0].maxBitrate, Math.floor((width * height * 1.2) / 1000) * 1000, `${width}x${height}`);
    assert.equal(sent.degradation, "maintain-resolution");
    assert.equal(sent.out.length, 1, `one outbound video stream: ${JSON.stringify(sent.out)}`);
    assert.deepEqual([sent.out[0].width, sent.out[0].height], [width, height]);
    await screenshot(page, "web-debug-sharing");

    // The shared window grows: the capture follows and the layer's bitrate is refitted to its size.
    const cdp = await env.browser.context.newCDPSession(pattern);
    const { windowId } = await cdp.send("Browser.getWindowForTarget");
    await cdp.send("Browser.setWindowBounds", { windowId, bounds: { width: 1920, height: 1200 } });
    const [w2, h2] = await until("the grown window", async () => {
      const size = await pattern.evaluate(() => [innerWidth & ~1, innerHeight & ~1]);
      return size[0] > width ? size : null;
    });
    await until(`the capture sent at ${w2}x${h2}`, async () =>
      (await auxVideoOutbound(page)).out.some((o) => o.width === w2 && o.height === h2),
    );
    await until("the refitted bitrate", async () =>
      (await auxVideoOutbound(page)).encodings[0].maxBitrate === Math.floor((w2 * h2 * 1.2) / 1000) * 1000,
    );

    // The browser ends the capture (the shared tab closes, as its "Stop sharing" would): the aux stream stops.
    await pattern.close();
    await native.waitEvent("stream Delete after the capture ended", streamUpdate("Delete", shareId));
    await waitPageEvent(page, "NoPublish", (e) => e.name === "onPublisherStateUpdate" && e.stream_id === shareId && e.state === "NoPublish");
    const stopped = await waitPageEvent(page, "Stopped", (e) => e.name === "onScreenCaptureStateUpdate" && e.state === "Stopped");
    assert.match(stopped.info, /browser ended the capture/);
    assert.equal(await page.isVisible("#share-tile"), false);
    assert.equal(await page.isEnabled("#share"), true);

    // Again, stopped with the page's own button this time.
    pattern = await openPatternTab("web share again");
    const addsBefore = native.events.filter(streamUpdate("Add", shareId)).length;
    await page.click("#share");
    await until("stream Add again", () => native.events.filter(streamUpdate("Add", shareId)).length > addsBefore);
    const decodedBefore = native.probes("video", shareId).length;
    await until("frames of the second share", () => native.probes("video", shareId).length >= decodedBefore + 5);
    const deletesBefore = native.events.filter(streamUpdate("Delete", shareId)).length;
    await page.click("#stop-share");
    await until("stream Delete after Stop sharing", () => native.events.filter(streamUpdate("Delete", shareId)).length > deletesBefore);

    const bad = (await pageEvents(page)).filter((e) => e.name === "onPublisherStateUpdate" && e.error_code !== 0);
    assert.deepEqual(bad, [], "publisher errors on the page");
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await native.stop();
    await page.close();
    if (!pattern.isClosed()) await pattern.close();
  }
});

test("a native client shares its X screen on the aux channel; the page plays it big and decodes it", async () => {
  const room = "native-share";
  const shareId = "nsh-screen";
  const x = await startXvfb({ width: WIDTH, height: HEIGHT });
  // The screen to share: a kiosk window of the pattern filling the private display.
  const kiosk = await launchBrowser({
    headless: false,
    env: { DISPLAY: x.display },
    viewport: null,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--kiosk", "--window-position=0,0", `--window-size=${WIDTH},${HEIGHT}`],
  });
  let native = null;
  let page = null;
  try {
    const shown = kiosk.context.pages()[0] ?? (await kiosk.context.newPage());
    await shown.goto(`${env.server.httpUrl}/web/pattern.html?${new URLSearchParams({ label: "native share", size: `${WIDTH}x${HEIGHT}` })}`);
    await shown.waitForSelector("body[data-ready='1']");
    native = env.server.call(room, "nsh", ["--share-screen", shareId, "--share-hint", "detail", "--audio", "none"], {
      env: { DISPLAY: x.display },
    });
    page = await openPageAs(env, room, "web", { autoplay: "1" });
    await native.waitEvent("Capturing", (e) => e.event === "ScreenCaptureStateUpdate" && e.state === "Capturing");
    await native.waitEvent("sharing", (e) => e.event === "PublisherStateUpdate" && e.stream_id === shareId && e.state === "Publishing");
    await pageLogin(page);
    await waitPageEvent(page, "Playing the share", (e) => e.name === "onPlayerStateUpdate" && e.stream_id === shareId && e.state === "Playing");
    const tile = `article.tile[data-stream="${shareId}"]`;
    assert.equal(await page.$eval(tile, (el) => el.classList.contains("share")), true, "a shared screen's tile is the big one");

    await until("15 shared frames read in the browser", async () => {
      const frames = await page.evaluate((id) => window.conferDebug.frames(id), shareId);
      return new Set(frames.map((f) => f.frameNumber)).size >= 15;
    });
    const frames = await page.evaluate((id) => window.conferDebug.frames(id), shareId);
    const drawn = await shown.evaluate(() => window.patternFrame());
    assertFrames(frames.map((f) => f.frameNumber), { min: 15, max: drawn, what: "native share -> page" });
    const width = await page.$eval(`${tile} .screen`, (el) => el.getBoundingClientRect().width);
    const stage = await page.$eval("#tiles", (el) => el.getBoundingClientRect().width);
    assert.ok(width > stage * 0.9, `the share's tile spans the stage: ${width} of ${stage} px`);
    await screenshot(page, "web-debug-playing-native-share");

    // The native side stops the share and logs out: the page sees the stream go.
    await native.stop();
    assert.ok(native.events.some((e) => e.event === "ScreenCaptureStateUpdate" && e.state === "Stopped"), "the native share says Stopped");
    await waitPageEvent(page, "stream Delete", (e) => e.name === "onRoomStreamUpdate" && e.update_type === "Delete" && e.streams.some((s) => s.stream_id === shareId));
    const bad = (await pageEvents(page)).filter((e) => e.name === "onPlayerStateUpdate" && e.error_code !== 0 && e.state === "NoPlay");
    assert.deepEqual(bad, [], "player errors on the page");
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await native?.stop();
    await page?.close();
    await kiosk.close();
    await x.stop();
  }
});
