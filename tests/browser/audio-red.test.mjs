// Audio redundancy between browsers through the SFU: the page puts RED
// (RFC 2198) over Opus before Opus, so Chromium sends RED to the SFU and the
// SFU forwards it to a page that plays. Without it every audio packet lost
// on either leg is concealed (issue 15: 33 % concealed at 20 % loss each
// way). Asserted on the codec heading each leg's answer, with audio flowing.

import assert from "node:assert/strict";
import { test } from "node:test";
import { openPageAs, pageLogin, pagePublish, serverAndBrowserForTests, until, waitPageEvent } from "./harness.mjs";

const env = serverAndBrowserForTests();

/**
 * The codec heading the audio section of a connection's answer (what
 * Chromium sends: getStats names Opus for RED too) and the audio packets
 * its RTP stream of `type` counted, once it has some.
 */
function audioLeg(page, which, type) {
  return page.evaluate(
    async ([which, type]) => {
      const engine = window.conferDebug.engine();
      const pc = which === "publisher" ? engine.publisherConnection() : engine.playerConnection(which);
      if (!pc?.remoteDescription) return null;
      const sdp = pc.remoteDescription.sdp.split("\r\n");
      const head = sdp.find((l) => l.startsWith("m=audio"))?.split(" ")[3];
      const codec = sdp.find((l) => l.startsWith(`a=rtpmap:${head} `))?.split(" ")[1] ?? null;
      let packets = 0;
      (await pc.getStats()).forEach((s) => {
        if (s.type === type && s.kind === "audio") packets += s.packetsSent ?? s.packetsReceived ?? 0;
      });
      return packets > 0 ? { codec, packets } : null;
    },
    [which, type],
  );
}

test("a browser publisher sends RED over Opus and a browser player receives it", async () => {
  const room = "audio-red";
  const publisher = await openPageAs(env, room, "pub", { source: "test", stream: "web-red" });
  const player = await openPageAs(env, room, "ply", { autoplay: "1" });
  try {
    await pageLogin(publisher);
    await pagePublish(publisher);
    const sent = await until("audio sent", () => audioLeg(publisher, "publisher", "outbound-rtp"));
    assert.equal(sent.codec, "red/48000/2");
    await pageLogin(player);
    await waitPageEvent(player, "Playing web-red", (e) => e.name === "onPlayerStateUpdate" && e.state === "Playing");
    const received = await until("audio received", () => audioLeg(player, "web-red", "inbound-rtp"));
    assert.equal(received.codec, "red/48000/2");
    for (const p of [publisher, player]) assert.deepEqual(p.consoleErrors, []);
  } finally {
    for (const p of [publisher, player]) await p.close();
  }
});
