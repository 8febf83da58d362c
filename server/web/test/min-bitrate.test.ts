// The floor a publishing leg puts under Chromium's estimate: the SFU's
// answer gets `x-google-min-bitrate` on its H.264 format lines only.

import { test } from "node:test";
import assert from "node:assert/strict";
import { withMinBitrate } from "../src/media.js";

const ANSWER = [
  "v=0",
  "m=audio 9 UDP/TLS/RTP/SAVPF 63 111",
  "a=rtpmap:63 red/48000/2",
  "a=fmtp:63 111/111",
  "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;useinbandfec=1",
  "m=video 9 UDP/TLS/RTP/SAVPF 102",
  "a=rtpmap:102 H264/90000",
  "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
  "",
].join("\r\n");

test("only the H.264 format line gets the floor, once", () => {
  const floored = withMinBitrate(ANSWER, 300);
  const lines = floored.split("\r\n");
  assert.ok(lines.includes("a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f;x-google-min-bitrate=300"));
  assert.ok(lines.includes("a=fmtp:111 minptime=10;useinbandfec=1"));
  assert.ok(lines.includes("a=fmtp:63 111/111"));
  assert.equal(withMinBitrate(floored, 300), floored);
});
