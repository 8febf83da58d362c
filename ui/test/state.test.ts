import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createCallStore, headCount, initialState, isReconnecting, joinLeaveText, MAX_NOTICES, orderedStreams, people, preview, reduce, type Action, type CallState } from "../src/state.js";
import type { PlayStreamQuality, SdkEvent } from "../src/types.js";

const ROOM = "room-abc";
const ME = { user_id: "u-me", user_name: "Me" };
const grace = { user_id: "u-grace", user_name: "Grace" };
const alan = { user_id: "u-alan", user_name: "alan" };
const zed = { user_id: "u-zed", user_name: "Zed" };

function run(actions: Action[], s: CallState = initialState()): CallState {
  return actions.reduce(reduce, s);
}
const join: Action = { event: "app/join", room_id: ROOM, self: ME, stream_id: "u-me-main" };
const roomState = (state: "Connected" | "Connecting" | "Disconnected", error_code = 0): SdkEvent => ({ event: "RoomStateUpdate", room_id: ROOM, state, error_code, extended_data: "{}" });
const users = (update_type: "Add" | "Delete", list: { user_id: string; user_name: string }[]): SdkEvent => ({ event: "RoomUserUpdate", room_id: ROOM, update_type, users: list });
const streams = (update_type: "Add" | "Delete", list: { user_id: string; user_name: string }[]): SdkEvent => ({
  event: "RoomStreamUpdate",
  room_id: ROOM,
  update_type,
  streams: list.map((u) => ({ stream_id: `${u.user_id}-main`, user: u, extra_info: "" })),
  extended_data: "{}",
});
const count = (n: number): SdkEvent => ({ event: "RoomOnlineUserCountUpdate", room_id: ROOM, count: n });
const q = (level: PlayStreamQuality["level"], extra: Partial<PlayStreamQuality> = {}): PlayStreamQuality => ({
  video_recv_fps: 30, video_decode_fps: 30, video_render_fps: 29, video_kbps: 800, video_break_rate: 0, audio_recv_fps: 50, audio_kbps: 32,
  audio_break_rate: 0, mos: 4.4, rtt_ms: 30, packet_loss_rate: 0, jitter_ms: 3, end_to_end_delay_ms: 90, av_timestamp_diff_ms: 10,
  width: 640, height: 360, video_codec: "H264", total_recv_bytes: 1000, level, ...extra,
});

describe("reducer: a call from login to kick-out", () => {
  it("login: joining, then Connected is in-call with the initial users seeded silently", () => {
    let s = run([join]);
    assert.equal(s.phase, "joining");
    assert.equal(s.room.state, "Connecting");
    assert.equal(s.publisher.stream_id, "u-me-main");
    s = run([roomState("Connecting"), roomState("Connected"), users("Add", [grace, alan]), count(3)], s);
    assert.equal(s.phase, "in-call");
    assert.equal(s.room.state, "Connected");
    assert.deepEqual(Object.keys(s.users).sort(), ["u-alan", "u-grace"]);
    assert.equal(s.notices.length, 0, "the snapshot of who is already here is not toasted");
    assert.equal(s.online_count, 3);
    assert.equal(headCount(s), 3);
    assert.equal(s.announcement?.text, "2 other people are here");
  });

  it("later joins and leaves toast and announce, batched", () => {
    let s = run([join, roomState("Connected"), count(1)]);
    s = reduce(s, users("Add", [grace]));
    assert.equal(s.notices.at(-1)?.title, "Grace joined");
    assert.equal(s.announcement?.text, "Grace joined");
    s = reduce(s, users("Add", [alan, zed, { user_id: "u-x", user_name: "X" }]));
    assert.equal(s.notices.at(-1)?.title, "alan and 2 others joined");
    s = reduce(s, users("Delete", [grace]));
    assert.equal(s.notices.at(-1)?.title, "Grace left");
    assert.equal(s.users["u-grace"], undefined);
    // The local user never appears in the list of others.
    s = reduce(s, users("Add", [ME]));
    assert.equal(s.users["u-me"], undefined);
  });

  it("streams: add keeps owner and join order, own stream is ignored, delete removes", () => {
    let s = run([join, roomState("Connected"), streams("Add", [zed, grace]), streams("Add", [alan])]);
    assert.deepEqual(orderedStreams(s).map((x) => x.stream_id), ["u-zed-main", "u-grace-main", "u-alan-main"]);
    assert.equal(s.streams["u-grace-main"]?.user.user_name, "Grace");
    assert.equal(s.streams["u-grace-main"]?.player, "NoPlay");
    s = reduce(s, streams("Add", [ME]));
    assert.equal(s.streams["u-me-main"], undefined);
    s = reduce(s, streams("Delete", [grace]));
    assert.deepEqual(orderedStreams(s).map((x) => x.stream_id), ["u-zed-main", "u-alan-main"]);
  });

  it("player states: Playing marks ever_played; a later PlayRequesting is a reconnect; NoPlay with an error toasts", () => {
    let s = run([join, roomState("Connected"), streams("Add", [grace])]);
    const sid = "u-grace-main";
    s = reduce(s, { event: "PlayerStateUpdate", stream_id: sid, state: "PlayRequesting", error_code: 0, extended_data: "{}" });
    assert.equal(s.streams[sid]?.ever_played, false);
    s = reduce(s, { event: "PlayerStateUpdate", stream_id: sid, state: "Playing", error_code: 0, extended_data: "{}" });
    s = reduce(s, { event: "PlayerRenderVideoFirstFrame", stream_id: sid });
    assert.equal(s.streams[sid]?.player, "Playing");
    assert.equal(s.streams[sid]?.first_frame, true);
    s = reduce(s, { event: "PlayerStateUpdate", stream_id: sid, state: "PlayRequesting", error_code: 1004004, extended_data: "{}" });
    assert.equal(s.streams[sid]?.ever_played, true);
    assert.equal(s.streams[sid]?.player_error, 1004004);
    assert.equal(s.notices.length, 0, "a retry shows on the tile, not as a toast");
    s = reduce(s, { event: "PlayerStateUpdate", stream_id: sid, state: "NoPlay", error_code: 1004003, extended_data: "{}" });
    assert.equal(s.notices.at(-1)?.code, 1004003);
    // Events for unknown streams change nothing.
    assert.equal(reduce(s, { event: "PlayerStateUpdate", stream_id: "nope", state: "Playing", error_code: 0, extended_data: "{}" }), s);
  });

  it("quality per stream and for publishing, with the level", () => {
    let s = run([join, roomState("Connected"), streams("Add", [grace])]);
    s = reduce(s, { event: "PlayerQualityUpdate", stream_id: "u-grace-main", quality: q("Medium", { packet_loss_rate: 0.05, rtt_ms: 250, av_timestamp_diff_ms: -40, mos: 3.6 }) });
    const got = s.streams["u-grace-main"]?.quality;
    assert.equal(got?.level, "Medium");
    assert.equal(got?.packet_loss_rate, 0.05);
    assert.equal(got?.av_timestamp_diff_ms, -40);
    assert.equal(got?.mos, 3.6);
    s = reduce(s, {
      event: "PublisherQualityUpdate",
      stream_id: "u-me-main",
      quality: { video_capture_fps: 30, video_encode_fps: 30, video_send_fps: 30, video_kbps: 600, audio_send_fps: 50, audio_kbps: 32, rtt_ms: 20, packet_loss_rate: 0, target_kbps: 700, width: 640, height: 360, video_codec: "H264", total_send_bytes: 10, level: "Excellent" },
    });
    assert.equal(s.publisher.quality?.video_kbps, 600);
  });

  it("app/layer records the simulcast layer a stream's tile asked for; unknown streams and repeats change nothing", () => {
    let s = run([join, roomState("Connected"), streams("Add", [grace])]);
    assert.equal(s.streams["u-grace-main"]?.layer, null);
    s = reduce(s, { event: "app/layer", stream_id: "u-grace-main", layer: "medium" });
    assert.equal(s.streams["u-grace-main"]?.layer, "medium");
    assert.equal(reduce(s, { event: "app/layer", stream_id: "u-grace-main", layer: "medium" }), s);
    assert.equal(reduce(s, { event: "app/layer", stream_id: "u-nobody-main", layer: "low" }), s);
  });

  it("remote mic and camera state per stream; people list shows them", () => {
    let s = run([join, roomState("Connected"), users("Add", [grace, alan]), count(3), streams("Add", [grace])]);
    s = reduce(s, { event: "RemoteMicStateUpdate", stream_id: "u-grace-main", state: "Mute" });
    s = reduce(s, { event: "RemoteCameraStateUpdate", stream_id: "u-grace-main", state: "Open" });
    assert.equal(s.streams["u-grace-main"]?.mic, "Mute");
    assert.equal(s.streams["u-grace-main"]?.camera, "Open");
    const rows = people(s);
    assert.deepEqual(rows.map((r) => r.name), ["Me", "alan", "Grace"], "(You) first, then A–Z ignoring case");
    assert.equal(rows[0]?.self, true);
    assert.equal(rows.find((r) => r.user_id === "u-grace")?.mic, false);
    assert.equal(rows.find((r) => r.user_id === "u-grace")?.camera, true);
    assert.equal(rows.find((r) => r.user_id === "u-alan")?.mic, null, "not publishing: unknown");
    assert.deepEqual(people(s, "GRA").map((r) => r.user_id), ["u-grace"]);
  });

  it("publisher state: Publishing after PublishRequesting; an error toasts once", () => {
    let s = run([join, roomState("Connected")]);
    const pub = (state: "NoPublish" | "PublishRequesting" | "Publishing", error_code = 0): SdkEvent => ({ event: "PublisherStateUpdate", stream_id: "u-me-main", state, error_code, extended_data: "{}" });
    s = run([pub("PublishRequesting"), pub("Publishing")], s);
    assert.equal(s.publisher.state, "Publishing");
    s = run([pub("PublishRequesting", 1003007), pub("PublishRequesting", 1003007)], s);
    assert.equal(s.notices.filter((n) => n.code === 1003007).length, 1);
    // Another stream ID (not ours) is ignored.
    assert.equal(reduce(s, { event: "PublisherStateUpdate", stream_id: "other", state: "NoPublish", error_code: 0, extended_data: "{}" }), s);
  });

  it("reconnecting: Connecting after Connected shows the banner; Connected again clears it, without re-toasting users", () => {
    let s = run([join, roomState("Connecting")]);
    assert.equal(isReconnecting(s), false, "the first connect is joining, not reconnecting");
    s = run([roomState("Connected"), users("Add", [grace]), count(2)], s);
    s = reduce(s, roomState("Connecting", 1002011));
    assert.equal(isReconnecting(s), true);
    assert.equal(s.phase, "in-call");
    assert.equal(s.room.error_code, 1002011);
    s = reduce(s, roomState("Connected"));
    assert.equal(isReconnecting(s), false);
    assert.equal(s.room.snapshot_open, false, "after a reconnect user updates are real changes");
    s = reduce(s, users("Add", [alan]));
    assert.equal(s.notices.at(-1)?.title, "alan joined");
  });

  it("kicked out: Disconnected with the code fails the call and toasts the code", () => {
    let s = run([join, roomState("Connected"), streams("Add", [grace])]);
    s = reduce(s, roomState("Disconnected", 1002013));
    s = reduce(s, { event: "RoomStateChanged", room_id: ROOM, reason: "KickOut", error_code: 1002013, extended_data: "{}" });
    assert.equal(s.phase, "failed");
    assert.equal(s.room.reason, "KickOut");
    const n = s.notices.at(-1);
    assert.equal(n?.code, 1002013);
    assert.equal(n?.kind, "error");
    assert.equal(n?.title, "You joined from another device");
  });

  it("a clean logout (Disconnected, code 0) does not fail the call", () => {
    const s = run([join, roomState("Connected"), roomState("Disconnected", 0)]);
    assert.equal(s.phase, "in-call");
    assert.equal(s.notices.length, 0);
  });

  it("events for another room, or when idle, are ignored", () => {
    const idle = initialState();
    assert.equal(reduce(idle, roomState("Connected")), idle);
    const s = run([join, roomState("Connected")]);
    assert.equal(reduce(s, { event: "RoomUserUpdate", room_id: "other", update_type: "Add", users: [grace] }), s);
  });

  it("app/left resets the call but keeps mic/camera choices and pending notices", () => {
    let s = run([join, { event: "app/local", mic: false }, roomState("Connected"), roomState("Disconnected", 1002012)]);
    s = reduce(s, { event: "app/left" });
    assert.equal(s.phase, "idle");
    assert.equal(s.self, null);
    assert.deepEqual(s.streams, {});
    assert.equal(s.local.mic, false);
    assert.equal(s.notices.at(-1)?.code, 1002012);
  });

  it("app/failed (a refused command) fails the join with its code", () => {
    const s = run([join, { event: "app/failed", error: { code: 1000004, message: "server must be a ws:// or wss:// URL" } }]);
    assert.equal(s.phase, "failed");
    assert.equal(s.room.error_code, 1000004);
    assert.equal(s.notices.at(-1)?.title, "Check the server address");
  });

  it("app/rejoin clears users and streams and connects again", () => {
    const s = run([join, roomState("Connected"), users("Add", [grace]), streams("Add", [grace]), roomState("Disconnected", 1002012), { event: "app/rejoin" }]);
    assert.equal(s.phase, "joining");
    assert.deepEqual(s.users, {});
    assert.deepEqual(s.streams, {});
    assert.equal(s.room.was_connected, false);
  });
});

describe("reducer: notices", () => {
  it("keeps at most 3, newest last, and dismiss removes by id", () => {
    let s = run([join]);
    for (let i = 1; i <= 5; i++) s = reduce(s, { event: "app/notice", kind: "info", title: `n${i}`, detail: "", code: null });
    assert.equal(s.notices.length, MAX_NOTICES);
    assert.deepEqual(s.notices.map((n) => n.title), ["n3", "n4", "n5"]);
    const id = s.notices[1]!.id;
    s = reduce(s, { event: "app/dismiss", id });
    assert.deepEqual(s.notices.map((n) => n.title), ["n3", "n5"]);
  });

  it("a device error names the device problem and keeps its code", () => {
    const s = run([join, { event: "LocalDeviceError", device_type: "Camera", error_code: 1006001, info: "no camera found" }]);
    assert.equal(s.notices[0]?.title, "Camera was not found");
    assert.equal(s.notices[0]?.code, 1006001);
  });

  it("an app/error with a title keeps the SDK message as detail", () => {
    const s = run([{ event: "app/error", error: { code: 1006004, message: "device busy" }, title: "Can't use that camera" }]);
    assert.equal(s.notices[0]?.title, "Can't use that camera");
    assert.equal(s.notices[0]?.detail, "device busy");
    assert.equal(s.notices[0]?.code, 1006004);
  });
});

describe("reducer: chat", () => {
  const msg = (id: number, from: { user_id: string; user_name: string }, text: string, t: number) => ({ message_id: id, from_user: from, text, send_time_ms: t });

  it("received messages are appended once, count as unread while chat is closed, and are announced", () => {
    let s = run([join, roomState("Connected")]);
    s = reduce(s, { event: "RoomBroadcastMessage", room_id: ROOM, messages: [msg(1, grace, "hi", 1000), msg(2, alan, "hello", 2000)] });
    assert.equal(s.messages.length, 2);
    assert.equal(s.unread, 2);
    assert.equal(s.announcement?.text, "alan says: hello");
    // The same message again (e.g. after a resume) is not duplicated.
    s = reduce(s, { event: "RoomBroadcastMessage", room_id: ROOM, messages: [msg(2, alan, "hello", 2000)] });
    assert.equal(s.messages.length, 2);
    assert.deepEqual([s.notices.at(-1)?.title, s.notices.at(-1)?.detail], ["alan", "hello"], "a preview toast while chat is closed");
    s = reduce(s, { event: "app/panel", panel: "chat" });
    assert.equal(s.unread, 0);
    const toasts = s.notices.length;
    s = reduce(s, { event: "RoomBroadcastMessage", room_id: ROOM, messages: [msg(3, grace, "while open", 3000)] });
    assert.equal(s.unread, 0, "no unread while the chat panel is open");
    assert.equal(s.notices.length, toasts, "no preview toast while the chat panel is open");
  });

  it("own messages: sending -> sent with the ID; failed keeps the error; retry goes back to sending", () => {
    let s = run([join, roomState("Connected")]);
    s = reduce(s, { event: "app/chat-sending", key: "own:1", text: "hey", time_ms: 5000 });
    assert.equal(s.messages[0]?.status, "sending");
    assert.equal(s.messages[0]?.own, true);
    assert.equal(s.messages[0]?.from.user_id, "u-me");
    s = reduce(s, { event: "app/chat-sent", key: "own:1", message_id: 42 });
    assert.equal(s.messages[0]?.status, "sent");
    assert.equal(s.messages[0]?.message_id, 42);
    // An echo of our own message from the server is not shown twice.
    s = reduce(s, { event: "RoomBroadcastMessage", room_id: ROOM, messages: [msg(42, ME, "hey", 5001)] });
    assert.equal(s.messages.length, 1);
    assert.equal(s.unread, 0);
    s = reduce(s, { event: "app/chat-sending", key: "own:2", text: "again", time_ms: 6000 });
    s = reduce(s, { event: "app/chat-failed", key: "own:2", error: { code: 1002032, message: "rate" } });
    assert.equal(s.messages[1]?.status, "failed");
    assert.equal(s.messages[1]?.error?.code, 1002032);
    s = reduce(s, { event: "app/chat-retry", key: "own:2" });
    assert.equal(s.messages[1]?.status, "sending");
    assert.equal(s.messages[1]?.error, null);
  });
});

describe("store", () => {
  it("notifies subscribers on change only, with the previous state", () => {
    const store = createCallStore();
    const seen: [string, string][] = [];
    const off = store.subscribe((s, prev) => seen.push([prev.phase, s.phase]));
    store.dispatch(join);
    store.dispatch(roomState("Connected"));
    store.dispatch({ event: "RoomUserUpdate", room_id: "elsewhere", update_type: "Add", users: [grace] });
    assert.deepEqual(seen, [["idle", "joining"], ["joining", "in-call"]]);
    off();
    store.dispatch({ event: "app/left" });
    assert.equal(seen.length, 2);
    assert.equal(store.state.phase, "idle");
  });
});

describe("chat preview text", () => {
  it("is one line of at most 80 characters", () => {
    assert.equal(preview("a\n b\t c"), "a b c");
    const long = preview("x".repeat(100));
    assert.equal([...long].length, 80);
    assert.ok(long.endsWith("…"));
  });
});

describe("joinLeaveText", () => {
  it("batches names", () => {
    assert.equal(joinLeaveText([grace], "joined"), "Grace joined");
    assert.equal(joinLeaveText([grace, alan], "left"), "Grace and alan left");
    assert.equal(joinLeaveText([grace, alan, zed, ME], "joined"), "Grace and 3 others joined");
    assert.equal(joinLeaveText([{ user_id: "id-only", user_name: "" }], "joined"), "id-only joined");
  });
});

describe("reducer: sound levels and who speaks", () => {
  const inCall = (): CallState => run([join, roomState("Connected"), users("Add", [grace, alan]), streams("Add", [grace, alan]), count(3)]);
  const captured: SdkEvent = { event: "CapturedSoundLevelUpdate", level: 80 };
  const remote: SdkEvent = { event: "RemoteSoundLevelUpdate", levels: { "u-grace-main": 70, "u-alan-main": 0 } };

  it("the level events themselves leave the state alone (no re-render ten times a second)", () => {
    const s = inCall();
    assert.equal(reduce(s, captured), s);
    assert.equal(reduce(s, remote), s);
    const idle = initialState();
    assert.equal(reduce(idle, captured), idle);
    const store = createCallStore();
    let renders = 0;
    store.subscribe(() => renders++);
    store.dispatch(captured);
    store.dispatch(remote);
    assert.equal(renders, 0);
  });

  it("app/speaking marks streams and self; the same answer is the same state", () => {
    let s = inCall();
    assert.deepEqual(s.speaking, { self: false, streams: [] });
    s = reduce(s, { event: "app/speaking", self: true, streams: ["u-grace-main"] });
    assert.deepEqual(s.speaking, { self: true, streams: ["u-grace-main"] });
    assert.equal(reduce(s, { event: "app/speaking", self: true, streams: ["u-grace-main"] }), s);
    const rows = people(s);
    // UX.md §5: "(You)", then speakers, then A–Z.
    assert.deepEqual(rows.map((r) => [r.name, r.speaking]), [["Me", true], ["Grace", true], ["alan", false]]);
    const quiet = reduce(s, { event: "app/speaking", self: false, streams: [] });
    assert.deepEqual(people(quiet).map((r) => r.name), ["Me", "alan", "Grace"]);
  });

  it("unknown streams are ignored, streams are sorted, and nothing happens outside a call", () => {
    let s = inCall();
    s = reduce(s, { event: "app/speaking", self: false, streams: ["u-grace-main", "nobody-main", "u-alan-main"] });
    assert.deepEqual(s.speaking.streams, ["u-alan-main", "u-grace-main"]);
    const idle = initialState();
    assert.equal(reduce(idle, { event: "app/speaking", self: true, streams: [] }), idle);
  });

  it("muting clears our ring, and app/speaking cannot set it while muted", () => {
    let s = reduce(inCall(), { event: "app/speaking", self: true, streams: [] });
    s = reduce(s, { event: "app/local", mic: false });
    assert.equal(s.speaking.self, false);
    s = reduce(s, { event: "app/speaking", self: true, streams: [] });
    assert.equal(s.speaking.self, false);
    assert.equal(people(s)[0]!.speaking, false);
  });

  it("a stream that goes away stops speaking; leaving and rejoining clear it", () => {
    let s = reduce(inCall(), { event: "app/speaking", self: true, streams: ["u-grace-main", "u-alan-main"] });
    s = reduce(s, streams("Delete", [grace]));
    assert.deepEqual(s.speaking.streams, ["u-alan-main"]);
    assert.deepEqual(reduce(s, { event: "app/rejoin" }).speaking, { self: false, streams: [] });
    assert.deepEqual(reduce(s, { event: "app/left" }).speaking, { self: false, streams: [] });
  });
});
