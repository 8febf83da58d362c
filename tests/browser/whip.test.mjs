// WHIP and WHEP with a plain browser: headless Chromium publishes the
// barcode test pattern over WHIP (RTCPeerConnection + fetch, no Confer code
// but the pattern) and a native `confer call` plays it, decoding frame
// numbers; a native publisher is played over WHEP and Chromium decodes its
// frame numbers from a canvas copy. The room sees the WHIP publisher as a
// user with a stream, and DELETE ends it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { serverAndBrowserForTests, until } from "./harness.mjs";

const env = serverAndBrowserForTests();

/** A page on the server's origin (so fetch reaches /whip and /web/js). */
async function serverPage() {
  const page = await env.browser.context.newPage();
  page.consoleErrors = [];
  page.on("pageerror", (e) => page.consoleErrors.push(String(e)));
  await page.goto(`${env.server.httpUrl}/healthz`);
  return page;
}

/** Frame numbers: many, never backwards. */
function assertFrames(numbers, { min, max, what }) {
  assert.ok(new Set(numbers).size >= min, `${what}: only ${new Set(numbers).size} frames decoded`);
  for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i] >= numbers[i - 1], `${what}: backwards at ${i}: ${numbers.join(",")}`);
  if (max !== undefined) assert.ok(Math.max(...numbers) <= max, `${what}: frame ${Math.max(...numbers)} > ${max}`);
}

test("Chromium publishes over WHIP; a native player decodes its frame numbers; DELETE ends it", async () => {
  const room = "whip-in";
  const token = env.server.token("obs", { room });
  const native = env.server.call(room, "nat", ["--play", "auto", "--probe", "--audio", "none", "--notify-users"]);
  const page = await serverPage();
  try {
    await native.waitEvent("logged in", (e) => e.event === "RoomStateUpdate" && e.state === "Connected");
    const started = await page.evaluate(
      async ({ room, token }) => {
        const { TestPattern } = await import("/web/js/testsource.js");
        const pattern = new TestPattern({ width: 640, height: 360, fps: 30, label: "whip" });
        const pc = new RTCPeerConnection();
        pc.addTransceiver(pattern.track, { direction: "sendonly" });
        await pc.setLocalDescription(await pc.createOffer());
        await new Promise((done) => {
          if (pc.iceGatheringState === "complete") done();
          pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
          setTimeout(done, 3000);
        });
        const res = await fetch(`/whip/${room}/obs-cam`, {
          method: "POST",
          headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
          body: pc.localDescription.sdp,
        });
        const answer = await res.text();
        if (res.status !== 201) return { status: res.status, body: answer };
        await pc.setRemoteDescription({ type: "answer", sdp: answer });
        window.whip = { pc, pattern };
        return {
          status: res.status,
          location: res.headers.get("Location"),
          etag: res.headers.get("ETag"),
          contentType: res.headers.get("Content-Type"),
          candidates: answer.split("\n").filter((l) => l.startsWith("a=candidate:")).length,
        };
      },
      { room, token },
    );
    assert.equal(started.status, 201, JSON.stringify(started));
    assert.match(started.location, /^\/whip\/whip-in\/obs-cam\/[0-9a-f]{32}$/);
    assert.ok(started.etag, "an ETag");
    assert.equal(started.contentType, "application/sdp");
    assert.ok(started.candidates > 0, "the answer carries the server's candidates");

    // The room sees a user and a stream, as for any client.
    await native.waitEvent("obs joined", (e) => e.event === "RoomUserUpdate" && e.update_type === "Add" && e.users.some((u) => u.user_id === "obs"));
    await native.waitEvent("obs-cam added", (e) => e.event === "RoomStreamUpdate" && e.update_type === "Add" && e.streams.some((s) => s.stream_id === "obs-cam"));
    await until("30 decoded frames at the native player", () => native.probes("video", "obs-cam").length >= 30, 25_000);
    const drawn = await page.evaluate(() => window.whip.pattern.frameNumber);
    assertFrames(native.probes("video", "obs-cam").map((f) => f.frame_number), { min: 30, max: drawn, what: "WHIP -> native" });

    const deleted = await page.evaluate(async (location) => (await fetch(location, { method: "DELETE" })).status, started.location);
    assert.equal(deleted, 200);
    await native.waitEvent("obs-cam deleted", (e) => e.event === "RoomStreamUpdate" && e.update_type === "Delete" && e.streams.some((s) => s.stream_id === "obs-cam"));
    await native.waitEvent("obs left", (e) => e.event === "RoomUserUpdate" && e.update_type === "Delete" && e.users.some((u) => u.user_id === "obs"));
    const again = await page.evaluate(async (location) => (await fetch(location, { method: "DELETE" })).status, started.location);
    assert.equal(again, 404, "a deleted resource is gone");
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await page.evaluate(() => window.whip?.pc.close()).catch(() => {});
    await native.stop();
    await page.close();
  }
});

test("a native publisher is played over WHEP; Chromium decodes its frame numbers", async () => {
  const room = "whep-out";
  const native = env.server.call(room, "nat", ["--publish", "nat-cam", "--audio", "tone"]);
  const token = env.server.token("viewer", { room, publish: false });
  const page = await serverPage();
  try {
    await native.waitPublishing();
    const started = await page.evaluate(
      async ({ room, token }) => {
        const { VideoProbe } = await import("/web/js/probe.js");
        const video = document.createElement("video");
        video.muted = true;
        video.autoplay = true;
        video.playsInline = true;
        document.body.append(video);
        const pc = new RTCPeerConnection();
        pc.addTransceiver("audio", { direction: "recvonly" });
        pc.addTransceiver("video", { direction: "recvonly" });
        pc.ontrack = (e) => {
          if (e.track.kind === "video") video.srcObject = new MediaStream([e.track]);
        };
        await pc.setLocalDescription(await pc.createOffer());
        const res = await fetch(`/whep/${room}/nat-cam?layer=high`, {
          method: "POST",
          headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
          body: pc.localDescription.sdp,
        });
        const answer = await res.text();
        if (res.status !== 201) return { status: res.status, body: answer };
        await pc.setRemoteDescription({ type: "answer", sdp: answer });
        window.whep = { pc, probe: new VideoProbe(video) };
        return { status: res.status, location: res.headers.get("Location") };
      },
      { room, token },
    );
    assert.equal(started.status, 201, JSON.stringify(started));
    assert.match(started.location, /^\/whep\/whep-out\/nat-cam\/[0-9a-f]{32}$/);
    await until("30 decoded frames in Chromium", () => page.evaluate(() => window.whep.probe.reads.length >= 30), 25_000, 200);
    const reads = await page.evaluate(() => window.whep.probe.reads.map((r) => [r.frameNumber, r.latencyMs]));
    assertFrames(reads.map((r) => r[0]), { min: 30, what: "native -> WHEP" });
    for (const [, latency] of reads) assert.ok(latency > 0 && latency < 5000, `latency ${latency}`);
    const deleted = await page.evaluate(async (location) => (await fetch(location, { method: "DELETE" })).status, started.location);
    assert.equal(deleted, 200);
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await page.evaluate(() => window.whep?.pc.close()).catch(() => {});
    await native.stop();
    await page.close();
  }
});
