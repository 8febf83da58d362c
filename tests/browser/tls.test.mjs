// The debug page over https: `confer serve --tls-self-signed` serves the page
// and wss on one port; Chromium (told to accept the self-signed certificate,
// as a user would after checking its fingerprint) joins over wss and
// publishes its canvas test pattern; a native `confer call` that pins the
// fingerprint plays it and decodes its frame numbers.

import assert from "node:assert/strict";
import { test } from "node:test";
import { openPageAs, pageLogin, pagePublish, serverAndBrowserForTests, until } from "./harness.mjs";

const env = serverAndBrowserForTests({ tls: true });

test("the page joins over https and wss; a pinned native client plays it", async () => {
  assert.match(env.server.httpUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(env.server.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const room = "tls-room";
  const page = await openPageAs(env, room, "web", { source: "test", stream: "web-cam" });
  const native = env.server.call(room, "native", ["--play", "web-cam", "--probe"]);
  try {
    assert.equal(await page.evaluate(() => location.protocol), "https:");
    await pageLogin(page);
    await pagePublish(page);
    await until("30 frames decoded from the page", () => native.probes("video", "web-cam").length >= 30);
    // The page reports its media path like the SDK: direct UDP on loopback.
    const path = await until("the page's media path", async () => {
      const q = await page.evaluate(() => window.conferDebug.quality());
      return q["web-cam"]?.quality?.path ?? null;
    });
    assert.deepEqual(path, { local: "host", remote: "host", protocol: "udp" });
    assert.ok(
      native.events.some((e) => e.event === "RoomStateUpdate" && e.state === "Connected"),
      "the pinned native client logged in over wss",
    );
  } finally {
    await native.stop();
    await page.close();
  }
});
