// Browser interoperability: headless Chromium on the web debug page and
// native `confer call` participants in the same rooms of one `confer serve`.
// Video is checked by the barcode frame numbers each side decodes, audio by
// the tone frequency each side measures; screenshots go to the artifacts.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  openPage,
  openPageAs,
  pageEvents,
  pageLogin,
  pagePublish,
  screenshot,
  sleep,
  serverAndBrowserForTests,
  until,
  waitPageEvent,
} from "./harness.mjs";

const env = serverAndBrowserForTests();

/** Frame numbers read in order: many, increasing, none beyond `max`. */
function assertFrames(numbers, { min, max, what }) {
  const distinct = [...new Set(numbers)];
  assert.ok(distinct.length >= min, `${what}: only ${distinct.length} stamped frames decoded`);
  let backwards = 0;
  for (let i = 1; i < numbers.length; i++) if (numbers[i] < numbers[i - 1]) backwards++;
  assert.equal(backwards, 0, `${what}: frame numbers went backwards: ${numbers.join(",")}`);
  if (max !== undefined) assert.ok(Math.max(...numbers) <= max, `${what}: frame ${Math.max(...numbers)} > ${max}`);
}

/** The codecs a peer connection of the page uses ("mime fmtp"). */
function codecsOf(page, which, streamId) {
  return page.evaluate(
    async ([which, streamId]) => {
      const e = window.conferDebug.engine();
      const pc = which === "publish" ? e.publisherConnection() : e.playerConnection(streamId);
      const out = [];
      (await pc.getStats()).forEach((s) => {
        if (s.type === "codec") out.push(`${s.mimeType} ${s.sdpFmtpLine ?? ""}`.trim());
      });
      return out;
    },
    [which, streamId],
  );
}

function assertConferCodecs(codecs, what) {
  const video = codecs.filter((c) => c.startsWith("video/"));
  assert.ok(video.length > 0, `${what}: no video codec in use: ${codecs}`);
  for (const c of video) {
    assert.match(c, /^video\/H264 /, `${what}: ${c}`);
    assert.match(c, /packetization-mode=1/, `${what}: ${c}`);
    assert.match(c, /profile-level-id=42e01f/i, `${what}: ${c}`);
  }
  assert.ok(codecs.some((c) => c.startsWith("audio/opus")), `${what}: no Opus: ${codecs}`);
}

/** No publisher or player of the page went through an error. */
async function assertNoMediaErrors(page) {
  const bad = (await pageEvents(page)).filter(
    (e) => (e.name === "onPlayerStateUpdate" || e.name === "onPublisherStateUpdate") && e.error_code !== 0,
  );
  assert.deepEqual(bad, [], "media state errors on the page");
}

test("browser publishes the test pattern and a tone; native decodes frame numbers and the frequency", async () => {
  const room = "web-to-native";
  const page = await openPageAs(env, room, "web", { source: "test", tone: "660", stream: "web-cam" });
  const native = env.server.call(room, "nat", ["--play", "auto", "--probe", "--audio", "none"]);
  try {
    await pageLogin(page);
    await pagePublish(page);
    await native.waitEvent("Playing web-cam", (e) => e.event === "PlayerStateUpdate" && e.state === "Playing");
    // Chromium sends what Confer speaks: H.264 constrained baseline, mode 1, and Opus.
    assertConferCodecs(await until("codec stats", async () => {
      const c = await codecsOf(page, "publish");
      return c.length >= 2 ? c : null;
    }), "browser publisher");
    await until("60 decoded frames at the native player", () => native.probes("video", "web-cam").length >= 60);
    await until("2 audio probes at the native player", () => native.probes("audio", "web-cam").length >= 2);
    const drawn = await page.evaluate(() => window.conferDebug.patternFrame());
    const frames = native.probes("video", "web-cam");
    assertFrames(
      frames.map((f) => f.frame_number),
      { min: 60, max: drawn, what: "browser -> native" },
    );
    await assertNoMediaErrors(page);
    for (const f of frames) assert.ok(f.latency_ms > 0 && f.latency_ms < 5000, `latency ${f.latency_ms}`);
    const tones = native.probes("audio", "web-cam").filter((a) => a.frequency_hz !== null);
    assert.ok(tones.length > 0, "the native player heard nothing");
    const hz = tones[tones.length - 1].frequency_hz;
    assert.ok(Math.abs(hz - 660) < 15, `native measured ${hz} Hz, want 660`);

    // The page's mute controls reach the native player as device states.
    await page.check("#mute-mic");
    await native.waitEvent("mic Mute", (e) => e.event === "RemoteMicStateUpdate" && e.stream_id === "web-cam" && e.state === "Mute");
    await page.check("#camera-off");
    await native.waitEvent("camera Mute", (e) => e.event === "RemoteCameraStateUpdate" && e.stream_id === "web-cam" && e.state === "Mute");
    await page.uncheck("#mute-mic");
    await page.uncheck("#camera-off");
    await native.waitEvent("camera Open again", (e, i, all) => e.event === "RemoteCameraStateUpdate" && e.state === "Open" && all.some((x) => x.event === "RemoteCameraStateUpdate" && x.state === "Mute"));
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await native.stop();
    await page.close();
  }
});

test("native publishes; the browser decodes frame numbers from a canvas copy and measures the tone", async () => {
  const room = "native-to-web";
  const native = env.server.call(room, "nat", ["--publish", "nat-cam", "--tone-hz", "520"]);
  const page = await openPageAs(env, room, "web", { autoplay: "1" });
  try {
    await native.waitPublishing();
    await pageLogin(page);
    await waitPageEvent(page, "Playing nat-cam", (e) => e.name === "onPlayerStateUpdate" && e.state === "Playing");
    assertConferCodecs(await until("codec stats", async () => {
      const c = await codecsOf(page, "play", "nat-cam");
      return c.length >= 2 ? c : null;
    }), "browser player");
    await until("60 frames read in the browser", async () =>
      (await page.evaluate(() => window.conferDebug.frames("nat-cam"))).length >= 60,
    );
    const frames = await page.evaluate(() => window.conferDebug.frames("nat-cam"));
    assertFrames(
      frames.map((f) => f.frameNumber),
      { min: 60, what: "native -> browser" },
    );
    for (const f of frames) assert.ok(f.latencyMs > 0 && f.latencyMs < 5000, `latency ${f.latencyMs}`);
    const tone = await until("the tone in the browser", async () => {
      const a = await page.evaluate(() => window.conferDebug.audio("nat-cam"));
      return a && a.rms > 0.01 && Math.abs(a.frequencyHz - 520) < 10 ? a : null;
    });
    assert.ok(Math.abs(tone.frequencyHz - 520) < 10, `browser measured ${tone.frequencyHz} Hz`);
    await assertNoMediaErrors(page);
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await native.stop();
    await page.close();
  }
});

test("token logins explain expired, forged and wrong-room tokens; dev mode mints one", async () => {
  const room = "tokens";
  const good = env.server.token("web", { room });
  const forged = good.slice(0, -3) + (good.endsWith("AAA") ? "BBB" : "AAA");
  const cases = [
    { token: env.server.token("web", { room, ttl: 0 }), code: 1_007_003, name: "TokenExpired", text: /Mint a new token/ },
    { token: forged, code: 1_007_002, name: "TokenForged", text: /signature does not verify/ },
    { token: env.server.token("web", { room: "elsewhere" }), code: 1_007_006, name: "TokenWrongRoom", text: /another room/ },
    { token: env.server.token("someone-else", { room }), code: 1_007_005, name: "TokenWrongUser", text: /another UserID/ },
  ];
  for (const c of cases) {
    const page = await openPage(env.browser, env.server, { room, user: "web", token: c.token });
    try {
      await page.click("#login");
      const e = await waitPageEvent(page, c.name, (e) => e.name === "onRoomStateUpdate" && e.state === "Disconnected");
      assert.equal(e.error_code, c.code, c.name);
      const changed = (await pageEvents(page)).find((e) => e.name === "onRoomStateChanged" && e.reason === "LoginFailed");
      assert.equal(changed?.error_code, c.code);
      const banner = await page.textContent("#banner");
      assert.match(banner, new RegExp(c.name), banner);
      assert.match(banner, c.text, banner);
      if (c.name === "TokenExpired") await screenshot(page, "web-debug-token-expired");
    } finally {
      await page.close();
    }
  }
  // The local (dev-mode) config lets the page mint its own token.
  const page = await openPage(env.browser, env.server, { room, user: "minted" });
  try {
    assert.equal(await page.isVisible("#mint"), true);
    await page.click("#mint");
    await until("a minted token", async () => (await page.inputValue("#token")).startsWith("eyJ")); // a JWT
    assert.match(await page.textContent("#token-info"), /Token for minted · room tokens/);
    await pageLogin(page);
  } finally {
    await page.close();
  }
});

test("a browser and two native clients in one room: everyone sees and hears everyone", async () => {
  const room = "three-way";
  const a = env.server.call(room, "alice", ["--publish", "a-cam", "--play", "auto", "--probe", "--notify-users", "--tone-hz", "440"]);
  const b = env.server.call(room, "bob", ["--publish", "b-cam", "--play", "auto", "--probe", "--notify-users", "--tone-hz", "550"]);
  const page = await openPageAs(env, room, "wendy", { name: "Wendy (browser)", source: "test", tone: "660", stream: "w-cam", autoplay: "1" });
  try {
    for (const n of [a, b]) await n.waitPublishing();
    await pageLogin(page);
    await page.click("#publish");
    for (const s of ["a-cam", "b-cam"]) {
      await until(`browser reads ${s}`, async () => (await page.evaluate((id) => window.conferDebug.frames(id), s)).length >= 20);
    }
    for (const [n, streams] of [
      [a, ["b-cam", "w-cam"]],
      [b, ["a-cam", "w-cam"]],
    ]) {
      for (const s of streams) {
        await until(`${n.user} decodes ${s}`, () => n.probes("video", s).length >= 20);
        assertFrames(
          n.probes("video", s).map((f) => f.frame_number),
          { min: 20, what: `${s} at ${n.user}` },
        );
      }
    }
    const want = { "a-cam": 440, "b-cam": 550 };
    for (const [s, hz] of Object.entries(want)) {
      await until(`browser hears ${s} at ${hz} Hz`, async () => {
        const m = await page.evaluate((id) => window.conferDebug.audio(id), s);
        return m && m.rms > 0.01 && Math.abs(m.frequencyHz - hz) < 10;
      });
    }
    for (const n of [a, b]) {
      await until(`${n.user} hears w-cam`, () =>
        n.probes("audio", "w-cam").some((p) => p.frequency_hz !== null && Math.abs(p.frequency_hz - 660) < 15),
      );
    }
    // Users: everyone lists the two others.
    const users = await page.evaluate(() => window.conferDebug.engine().roomUsers.map((u) => u.user_id).sort());
    assert.deepEqual(users, ["alice", "bob"]);
    for (const n of [a, b]) {
      const seen = new Set(
        n.events.filter((e) => e.event === "RoomUserUpdate" && e.update_type === "Add").flatMap((e) => e.users.map((u) => u.user_id)),
      );
      assert.ok(seen.has("wendy"), `${n.user} never saw wendy: ${[...seen]}`);
      const wendy = n.events.find((e) => e.event === "RoomUserUpdate" && e.users.some((u) => u.user_id === "wendy"));
      assert.equal(wendy.users.find((u) => u.user_id === "wendy").user_name, "Wendy (browser)");
    }
    await assertNoMediaErrors(page);
    await sleep(1500); // let the stats overlay fill in
    await screenshot(page, "web-debug-three-way-call");
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await page.close();
  }
});
