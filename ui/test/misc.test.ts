import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { avSync, barsFor, isPoor, pathText, playStats, publishStats, statsText } from "../src/quality.js";
import { generateRoomId, hueFor, initials, mainStreamId, utf8Length } from "../src/names.js";
import { normaliseError, UNKNOWN_ERROR_CODE } from "../src/tauri.js";
import { describeError } from "../src/errors.js";
import { ADVANCED_FIELDS, checkJoinFields, previewProfile } from "../src/join-form.js";
import { elapsedText, forwardText, reachReport, reachSummary } from "../src/reachability.js";
import { token } from "./fake-api.js";
import { defaultSettings } from "../src/settings.js";
import { cameraOptions, cameraValue, micOptions, micValue, speakerValue, SYSTEM_DEFAULT, TEST_PATTERN, TONE, withCamera, withMic } from "../src/devices.js";
import type { PlayStreamQuality, ReachabilityCheck } from "../src/types.js";

describe("quality indicator", () => {
  it("3 bars for good, 2 fair, 1 poor, 0 lost; unknown before the first report", () => {
    assert.deepEqual([barsFor("Excellent").bars, barsFor("Excellent").tone], [3, "good"]);
    assert.deepEqual([barsFor("Good").bars, barsFor("Good").tone], [3, "good"]);
    assert.deepEqual([barsFor("Medium").bars, barsFor("Medium").tone], [2, "fair"]);
    assert.deepEqual([barsFor("Bad").bars, barsFor("Bad").tone], [1, "poor"]);
    assert.deepEqual([barsFor("Die").bars, barsFor("Die").tone], [0, "lost"]);
    assert.equal(barsFor(null).tone, "unknown");
    assert.equal(isPoor("Good"), false);
    assert.equal(isPoor("Medium"), true);
    assert.equal(isPoor(null), false);
  });

  it("stats rows carry resolution, fps, kbps, RTT, loss, MOS and A/V sync; Copy text lists them", () => {
    const q: PlayStreamQuality = {
      video_recv_fps: 30, video_decode_fps: 30, video_render_fps: 29.6, video_kbps: 1234.4, video_break_rate: 0.02, audio_recv_fps: 50, audio_kbps: 32,
      audio_break_rate: 0, mos: 4.26, rtt_ms: 41.6, packet_loss_rate: 0.031, jitter_ms: 5, end_to_end_delay_ms: 120, av_timestamp_diff_ms: -250,
      width: 1280, height: 720, video_codec: "H264", total_recv_bytes: 1, level: "Good",
    };
    const rows = Object.fromEntries(playStats(q, "medium"));
    assert.equal(rows["Resolution"], "1280×720");
    assert.equal(rows["Layer asked"], "Medium (mid-size tile)");
    assert.equal(Object.fromEntries(playStats(q, null))["Layer asked"], "–");
    assert.equal(rows["Frame rate"], "30 fps (received 30)");
    assert.equal(rows["Bitrate ↓"], "1,234 kbps video, 32 kbps audio");
    assert.equal(rows["Round trip"], "42 ms");
    assert.equal(rows["Packet loss ↓"], "3.1 %");
    assert.equal(rows["Audio MOS"], "4.3");
    assert.equal(rows["A/V sync"], "-250 ms (video ahead)");
    assert.equal(rows["Network path"], "–");
    const text = statsText("Grace (receiving)", playStats(q, "high"));
    assert.ok(text.startsWith("Grace (receiving)\nConnection: Good connection\nNetwork path: –\nResolution: 1280×720\nLayer asked: High (full size)"));
    const pub = Object.fromEntries(publishStats({ video_capture_fps: 30, video_encode_fps: 30, video_send_fps: 25, video_kbps: 500, audio_send_fps: 50, audio_kbps: 30, rtt_ms: 0, packet_loss_rate: 0, target_kbps: 0, width: 0, height: 0, video_codec: "", total_send_bytes: 0, level: null }));
    assert.equal(pub["Resolution"], "–");
    assert.equal(pub["Round trip"], "–");
    assert.equal(pub["Frame rate"], "25 fps (captured 30)");
  });

  it("the network path reads as direct, over TCP or relayed", () => {
    assert.equal(pathText(null), "–");
    assert.equal(pathText(undefined), "–");
    assert.equal(pathText({ local: "host", remote: "host", protocol: "udp" }), "Direct (UDP)");
    assert.equal(pathText({ local: "prflx", remote: "host", protocol: "udp" }), "Direct (UDP)");
    assert.equal(pathText({ local: "host", remote: "prflx", protocol: "tcp" }), "Direct over TCP (UDP blocked)");
    assert.equal(pathText({ local: "relay", remote: "host", protocol: "udp" }), "Relayed by TURN (UDP)");
  });

  it("A/V sync: within 200 ms is in sync", () => {
    assert.equal(avSync(35), "+35 ms (in sync)");
    assert.equal(avSync(-199), "-199 ms (in sync)");
    assert.equal(avSync(200), "+200 ms (audio ahead)");
  });
});

describe("names", () => {
  it("initials, hue, stream IDs, room IDs", () => {
    assert.equal(initials("Ada Lovelace"), "AL");
    assert.equal(initials("  grace  brewster murray hopper "), "GH");
    assert.equal(initials("bob"), "B");
    assert.equal(initials(""), "?");
    assert.equal(initials("Élodie Ünal"), "ÉÜ");
    assert.equal(hueFor("u-1"), hueFor("u-1"));
    assert.ok(hueFor("u-1") >= 0 && hueFor("u-1") < 360);
    assert.equal(mainStreamId("u-ada"), "u-ada-main");
    assert.equal(mainStreamId("ada@example.org"), "ada_example.org-main", "only [A-Za-z0-9_.-] in stream IDs");
    assert.match(generateRoomId(), /^room-[a-z2-9]{6}$/);
    assert.equal(utf8Length("€"), 3);
  });
});

describe("command errors", () => {
  it("normalises every rejection to { code, message }", () => {
    assert.deepEqual(normaliseError({ code: 1002001, message: "room ID is empty" }), { code: 1002001, message: "room ID is empty" });
    assert.deepEqual(normaliseError("command login_room not found"), { code: UNKNOWN_ERROR_CODE, message: "command login_room not found" });
    assert.deepEqual(normaliseError('{"code":1000004,"message":"bad url"}'), { code: 1000004, message: "bad url" });
    assert.equal(normaliseError({ code: 0, message: "x" }).code, UNKNOWN_ERROR_CODE, "0 is never an error code");
    assert.equal(normaliseError(new Error("boom")).message, "boom");
    assert.equal(normaliseError(undefined).code, UNKNOWN_ERROR_CODE);
  });

  it("describes known codes and falls back to the SDK message", () => {
    assert.equal(describeError(1002013).title, "You joined from another device");
    assert.deepEqual(describeError(1234, "odd"), { title: "Something went wrong", detail: "odd" });
  });
});

describe("join form", () => {
  const NOW = 1_800_000_000_000;
  const TOKEN = token({ room_id: "team", exp: NOW / 1000 + 3600 });
  const FP = "3f:9a:0c:77:e1:52:b4:08:6d:c3:29:fa:10:8e:5b:47:d2:61:0f:ac:93:3e:7b:c5:48:1d:e6:02:bf:74:a9:58";
  const ok = { name: "Ada", server: " wss://10.0.0.2:8080/ws ", room: "team", token: ` ${TOKEN} `, appId: "42", appSign: "", pin: FP };
  const check = (f: Partial<typeof ok>, now = NOW) => checkJoinFields({ ...ok, ...f }, now);
  const field = (f: Partial<typeof ok>, now = NOW) => {
    const r = check(f, now);
    return r.ok ? null : r.error.field;
  };
  it("a guest: server, room and the invite's token (+ App ID from the link); the pin is normalised", () => {
    assert.deepEqual(check({}), { ok: true, server: "wss://10.0.0.2:8080/ws", room: "team", app_id: 42, app_sign: "", token: TOKEN, pin: FP.toUpperCase() });
    assert.deepEqual(check({ pin: "" }), { ok: true, server: "wss://10.0.0.2:8080/ws", room: "team", app_id: 42, app_sign: "", token: TOKEN, pin: "" });
  });
  it("your own server: the App Sign instead of a token; with both, the token wins and the App Sign is not used", () => {
    const sign = "Ab".repeat(32);
    const own = check({ token: "", appSign: sign, pin: "" });
    assert.deepEqual(own, { ok: true, server: "wss://10.0.0.2:8080/ws", room: "team", app_id: 42, app_sign: sign, token: "", pin: "" });
    const both = check({ appSign: sign });
    assert.equal(both.ok && both.app_sign, "");
  });
  it("either a token or an App Sign is required", () => {
    assert.equal(field({ token: "", appSign: "" }), "invite-token");
  });
  it("names the first field that is wrong", () => {
    assert.equal(field({ name: " " }), "name");
    assert.equal(field({ name: "x".repeat(257) }), "name");
    assert.equal(field({ server: "http://x" }), "server-url");
    assert.equal(field({ room: "" }), "room-id");
    assert.equal(field({ token: "not a token" }), "invite-token");
    assert.equal(field({ appId: "abc" }), "app-id");
    assert.equal(field({ appId: "" }), "app-id");
    assert.equal(field({ appId: "0" }), "app-id");
    assert.equal(field({ appId: "4294967296" }), "app-id");
    assert.equal(field({ token: "", appSign: "xyz" }), "app-sign");
    assert.equal(field({ pin: "AB:CD" }), "server-pin");
    assert.equal(field({ pin: FP + ":00" }), "server-pin");
  });
  it("an expired token, or one for another room, is caught before connecting", () => {
    const late = check({}, NOW + 3600_000);
    assert.equal(!late.ok && late.error.field, "invite-token");
    assert.match(!late.ok ? late.error.message : "", /expired/);
    const other = check({ room: "other" });
    assert.equal(!other.ok && other.error.field, "room-id");
    assert.match(!other.ok ? other.error.message : "", /for room team/);
    // A token whose claims can't be read goes to the server, which says why.
    assert.equal(check({ token: "CF1.bm90LWpzb24.c2ln" }).ok, true);
  });
  it("the Advanced disclosure holds App ID, App Sign and the pin", () => {
    assert.deepEqual([...ADVANCED_FIELDS], ["app-id", "app-sign", "server-pin"]);
  });
  it("the preview engine uses the last server when known (with its pin), else a placeholder", () => {
    const last = { ...defaultSettings("u"), last_server: "ws://h:1/ws", last_app_id: 9 };
    assert.deepEqual(previewProfile(last), { server: "ws://h:1/ws", app_id: 9, scenario: "StandardVideoCall" });
    const pinned = previewProfile({ ...last, last_server: "wss://h:1/ws", last_pin: FP, last_app_sign: "ab".repeat(32) });
    assert.deepEqual(pinned, { server: "wss://h:1/ws", app_id: 9, app_sign: "ab".repeat(32), pin: FP.toUpperCase(), scenario: "StandardVideoCall" });
    assert.equal(previewProfile(defaultSettings("u")).app_id, 1);
  });
});

describe("reachability", () => {
  it("what to forward: TCP and UDP; UDP unknown; this computer only", () => {
    assert.match(forwardText({ tcp: 40123, udp: 40124 }, "network"), /For people outside your network: forward TCP 40123 and UDP 40124 on your router to this computer\.$/);
    const noUdp = forwardText({ tcp: 40123, udp: null }, "network");
    assert.match(noUdp, /forward TCP 40123 on your router/);
    assert.match(noUdp, /UDP media port is not known/);
    assert.match(forwardText({ tcp: 1, udp: 2 }, "this_computer"), /^Only this computer can join/);
  });
  it("summary, times and the copied report", () => {
    const checks: ReachabilityCheck[] = [
      { name: "tcp", target: "h:1", ok: true, code: 0, detail: "connected", elapsed_ms: 2 },
      { name: "turn-udp", target: "turn:h:3478", ok: false, code: 1002020, detail: "no answer", elapsed_ms: 3004 },
    ];
    assert.equal(reachSummary(checks), "1 of 2 checks passed. Failed: TURN (UDP).");
    assert.equal(reachSummary(checks.slice(0, 1)), "The check passed.");
    assert.equal(reachSummary([checks[0]!, checks[0]!]), "All 2 checks passed.");
    assert.equal(reachSummary([]), "No checks ran.");
    assert.equal(elapsedText(2), "2 ms");
    assert.equal(elapsedText(3004), "3.0 s");
    assert.equal(reachReport(checks), "PASS TCP h:1 — connected (2 ms)\nFAIL TURN (UDP) turn:h:3478 [code 1002020] — no answer (3.0 s)");
  });
});

describe("device pickers", () => {
  const list = { cameras: [{ id: "c1", name: "Cam 1" }, { id: "c2", name: "" }], microphones: [{ id: "m1", name: "Mic" }], speakers: [{ id: "s1", name: "Spk" }] };
  const s = defaultSettings("u");
  it("the camera picker lists cameras then 'Test pattern'; no camera means the test pattern", () => {
    assert.deepEqual(cameraOptions(list).map((o) => o.value), ["c1", "c2", TEST_PATTERN]);
    assert.equal(cameraOptions(list)[1]?.label, "c2", "a nameless device shows its id");
    assert.equal(cameraValue(s, list), "c1");
    assert.equal(cameraValue({ ...s, camera: "c2" }, list), "c2");
    assert.equal(cameraValue({ ...s, camera: "gone" }, list), "c1");
    assert.equal(cameraValue(s, { ...list, cameras: [] }), TEST_PATTERN);
    assert.equal(cameraValue({ ...s, video_source: "test_pattern" }, list), TEST_PATTERN);
  });
  it("choosing updates the settings the contract persists", () => {
    assert.deepEqual([withCamera(s, TEST_PATTERN).video_source, withCamera(s, TEST_PATTERN).camera], ["test_pattern", null]);
    assert.deepEqual([withCamera(s, "c2").video_source, withCamera(s, "c2").camera], ["camera", "c2"]);
    assert.equal(withMic(s, TONE).microphone, TONE);
    assert.equal(withMic(s, SYSTEM_DEFAULT).microphone, null);
  });
  it("mic and speaker values fall back to the first device / system default", () => {
    assert.equal(micValue(s, list), "m1");
    assert.equal(micValue({ ...s, microphone: TONE }, list), TONE);
    assert.equal(micOptions({ ...list, microphones: [] })[0]?.label, "No microphone found");
    assert.equal(speakerValue(s, list), SYSTEM_DEFAULT);
    assert.equal(speakerValue({ ...s, speaker: "s1" }, list), "s1");
  });
});
