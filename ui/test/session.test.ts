import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CallSession, hostProfile, INVITE_TTL_SECS, PREVIEW_TILE, SELF_TILE, tileIdForStream } from "../src/session.js";
import { createCallStore } from "../src/state.js";
import type { SdkEvent } from "../src/types.js";
import { fakeApi, FP, HOST, INVITE, REACH } from "./fake-api.js";

const PROFILE = { server: "ws://127.0.0.1:8080/ws", app_id: 7, app_sign: "cd".repeat(32) };
const USER = { user_id: "u-ada", user_name: "Ada" };

function setup(fail = {}) {
  const store = createCallStore();
  const f = fakeApi(fail);
  const session = new CallSession(f.api, store);
  const left: string[] = [];
  session.onLeft = (r) => left.push(r);
  const feed = (e: SdkEvent) => {
    store.dispatch(e);
    session.onEvent(e);
  };
  return { store, session, ...f, left, feed };
}

const streamEvent = (update_type: "Add" | "Delete", ids: string[], room = "r1"): SdkEvent => ({
  event: "RoomStreamUpdate",
  room_id: room,
  update_type,
  streams: ids.map((id) => ({ stream_id: id, user: { user_id: id.replace(/-main$/, ""), user_name: id }, extra_info: "" })),
  extended_data: "{}",
});

describe("CallSession: the seed's call sequence", () => {
  it("join: create_engine, preview into the self tile, login with user status notify, publish `${user_id}-main`", async () => {
    const { session, calls, names, store } = setup();
    const ok = await session.join({ profile: PROFILE, room_id: "r1", user: USER });
    assert.equal(ok, true);
    assert.deepEqual(names(), ["createEngine", "muteMicrophone", "enableCamera", "startPreview", "loginRoom", "startPublishingStream"]);
    assert.deepEqual(calls[0], ["createEngine", PROFILE]);
    assert.deepEqual(calls[3], ["startPreview", SELF_TILE]);
    assert.deepEqual(calls[4], ["loginRoom", { room_id: "r1", user_id: "u-ada", user_name: "Ada", is_user_status_notify: true }]);
    assert.deepEqual(calls[5], ["startPublishingStream", "u-ada-main"]);
    assert.equal(store.state.phase, "joining");
    assert.equal(store.state.publisher.stream_id, "u-ada-main");
  });

  it("the mic/camera chosen before joining are applied to the engine", async () => {
    const { session, calls, store } = setup();
    store.dispatch({ event: "app/local", mic: false, camera: false });
    await session.join({ profile: PROFILE, room_id: "r1", user: USER });
    assert.deepEqual(calls.find((c) => c[0] === "muteMicrophone"), ["muteMicrophone", true]);
    assert.deepEqual(calls.find((c) => c[0] === "enableCamera"), ["enableCamera", false]);
  });

  it("reuses the home preview's engine when the profile matches, and moves the preview", async () => {
    const { session, names } = setup();
    await session.ensureEngine(PROFILE);
    await session.preview(PREVIEW_TILE);
    await session.join({ profile: { ...PROFILE }, room_id: "r1", user: USER });
    assert.deepEqual(names(), ["createEngine", "startPreview", "muteMicrophone", "enableCamera", "stopPreview", "startPreview", "loginRoom", "startPublishingStream"]);
  });

  it("re-creates the engine when the profile differs (preview placeholder -> hosted server)", async () => {
    const { session, names, calls } = setup();
    await session.ensureEngine({ server: "ws://127.0.0.1:9/ws", app_id: 1 });
    await session.ensureEngine(hostProfile(HOST));
    assert.deepEqual(names(), ["createEngine", "destroyEngine", "createEngine"]);
    assert.deepEqual(calls[2], ["createEngine", { server: HOST.ws_url, app_id: 4242, app_sign: HOST.app_sign, pin: FP, scenario: "StandardVideoCall" }]);
  });

  it("the host joins its own call pinned to its certificate; without TLS no pin", () => {
    assert.equal(hostProfile(HOST).pin, FP);
    assert.equal("pin" in hostProfile({ ...HOST, ws_url: "ws://127.0.0.1:1/ws", fingerprint: null }), false);
  });

  it("a guest logs in with the invite's token; another pin is another engine", async () => {
    const { session, calls, names } = setup();
    const guest = { server: "wss://192.168.1.20:40123/ws", app_id: 4242, pin: FP, scenario: "StandardVideoCall" as const };
    await session.ensureEngine({ ...guest, pin: "CD:".repeat(31) + "CD" });
    await session.join({ profile: guest, room_id: "r1", user: USER, token: "CF1.a.b" });
    assert.deepEqual(names().slice(0, 3), ["createEngine", "destroyEngine", "createEngine"]);
    assert.deepEqual(calls.find((c) => c[0] === "loginRoom"), ["loginRoom", { room_id: "r1", user_id: "u-ada", user_name: "Ada", token: "CF1.a.b", is_user_status_notify: true }]);
  });

  it("host_invite for the room (24 h) and check_reachability only while hosting", async () => {
    const { session, calls } = setup();
    await assert.rejects(session.hostInvite("r1"));
    await assert.rejects(session.checkReachability());
    await session.startHosting("network");
    assert.deepEqual(await session.hostInvite("r1"), INVITE);
    assert.deepEqual(calls.at(-1), ["hostInvite", { room: "r1", ttl_secs: INVITE_TTL_SECS }]);
    assert.equal(INVITE_TTL_SECS, 86_400);
    assert.deepEqual(await session.checkReachability(), REACH);
  });

  it("media setup runs after every engine creation", async () => {
    const { session } = setup();
    let setups = 0;
    session.mediaSetup = async () => void setups++;
    await session.ensureEngine(PROFILE);
    await session.ensureEngine(PROFILE);
    await session.ensureEngine({ ...PROFILE, app_id: 8 });
    assert.equal(setups, 2);
  });

  it("stream Add plays into the stream's tile; Delete stops; own stream and other rooms are ignored", async () => {
    const { session, calls, feed } = setup();
    await session.join({ profile: PROFILE, room_id: "r1", user: USER });
    calls.length = 0;
    feed(streamEvent("Add", ["u-grace-main", "u-ada-main"]));
    feed(streamEvent("Add", ["u-grace-main"]));
    feed(streamEvent("Add", ["u-x-main"], "other-room"));
    await Promise.resolve();
    assert.deepEqual(calls, [["startPlayingStream", "u-grace-main", tileIdForStream("u-grace-main")]]);
    feed(streamEvent("Delete", ["u-grace-main"]));
    feed(streamEvent("Delete", ["u-never-main"]));
    assert.deepEqual(calls.at(-1), ["stopPlayingStream", "u-grace-main"]);
    assert.equal(calls.length, 2);
  });

  it("leave: stop publishing, stop preview, logout, destroy, stop hosting; then home", async () => {
    const { session, names, left, store } = setup();
    await session.startHosting("network");
    await session.join({ profile: hostProfile(HOST), room_id: "r1", user: USER });
    const before = names().length;
    await session.leave();
    assert.deepEqual(names().slice(before), ["stopPublishingStream", "stopPreview", "logoutRoom", "destroyEngine", "stopHosting"]);
    assert.deepEqual(left, ["user"]);
    assert.equal(store.state.phase, "idle");
    assert.equal(session.hosting, false);
    assert.equal(session.engine, null);
  });

  it("the HostStopped that stop_hosting causes neither toasts nor leaves twice", async () => {
    const { session, names, left, store, api } = setup();
    await session.startHosting("this_computer");
    await session.join({ profile: hostProfile(HOST), room_id: "r1", user: USER });
    store.dispatch({ event: "RoomStateUpdate", room_id: "r1", state: "Connected", error_code: 0, extended_data: "{}" });
    // The Rust side emits HostStopped while stop_hosting runs.
    const stop = api.stopHosting;
    (api as { stopHosting: () => Promise<null> }).stopHosting = async () => {
      const e = { event: "HostStopped", reason: "stopped by the user" } as const;
      store.dispatch(e);
      session.onEvent(e);
      return stop();
    };
    await session.leave();
    assert.deepEqual(left, ["user"]);
    assert.equal(names().filter((n) => n === "stopHosting").length, 1, "the override ran and called through");
    assert.equal(names().filter((n) => n === "logoutRoom").length, 1);
    assert.equal(store.state.notices.some((n) => n.title === "The call ended"), false);
  });

  it("leave goes on when a step fails, and does not stop hosting for a guest", async () => {
    const { session, names, left } = setup({ stopPublishingStream: { code: 1003004, message: "not publishing" }, logoutRoom: { code: 1002001, message: "x" } });
    await session.join({ profile: PROFILE, room_id: "r1", user: USER });
    const before = names().length;
    await session.leave();
    assert.deepEqual(names().slice(before), ["stopPublishingStream", "stopPreview", "logoutRoom", "destroyEngine"]);
    assert.deepEqual(left, ["user"]);
  });

  it("HostStopped while hosting leaves without calling stop_hosting", async () => {
    const { session, names, left, store } = setup();
    await session.startHosting("this_computer");
    await session.join({ profile: hostProfile(HOST), room_id: "r1", user: USER });
    const e = { event: "HostStopped", reason: "port closed" } as const;
    store.dispatch(e);
    session.onEvent(e);
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(left, ["host-stopped"]);
    assert.equal(names().includes("stopHosting"), false);
    assert.equal(store.state.notices.some((n) => n.title === "The call ended"), true);
  });

  it("a refused create_engine fails the join with the code; nothing else is called", async () => {
    const { session, names, store } = setup({ createEngine: { code: 1000003, message: "AppSign must be 64 hexadecimal characters" } });
    const ok = await session.join({ profile: PROFILE, room_id: "r1", user: USER });
    assert.equal(ok, false);
    assert.deepEqual(names(), ["createEngine"]);
    assert.equal(store.state.phase, "failed");
    assert.equal(store.state.notices.at(-1)?.code, 1000003);
  });

  it("a failing preview (no camera) does not block joining", async () => {
    const { session, names, store } = setup({ startPreview: { code: 1006001, message: "no camera found" } });
    const ok = await session.join({ profile: PROFILE, room_id: "r1", user: USER });
    assert.equal(ok, true);
    assert.ok(names().includes("loginRoom"));
    assert.equal(store.state.notices.at(-1)?.code, 1006001);
  });

  it("rejoin after a failure: stop played streams, log out, log in and publish again", async () => {
    const { session, names, feed, store } = setup();
    await session.join({ profile: PROFILE, room_id: "r1", user: USER });
    feed({ event: "RoomStateUpdate", room_id: "r1", state: "Connected", error_code: 0, extended_data: "{}" });
    feed(streamEvent("Add", ["u-grace-main"]));
    feed({ event: "RoomStateUpdate", room_id: "r1", state: "Disconnected", error_code: 1002012, extended_data: "{}" });
    assert.equal(store.state.phase, "failed");
    const before = names().length;
    await session.rejoin();
    assert.deepEqual(names().slice(before), ["stopPlayingStream", "logoutRoom", "loginRoom", "startPublishingStream"]);
    assert.equal(store.state.phase, "joining");
    assert.deepEqual(store.state.streams, {});
  });

  it("mic and camera toggles call the SDK and roll back on failure", async () => {
    const { session, calls, store } = setup({ enableCamera: { code: 1006004, message: "busy" } });
    await session.ensureEngine(PROFILE);
    await session.setMic(false);
    assert.deepEqual(calls.at(-1), ["muteMicrophone", true]);
    assert.equal(store.state.local.mic, false);
    await session.setCamera(false);
    assert.equal(store.state.local.camera, true, "rolled back");
    assert.equal(store.state.notices.at(-1)?.code, 1006004);
  });

  it("chat: sends trimmed text, records the message ID; empty, too long and too fast are refused before the SDK", async () => {
    const { session, calls, store } = setup();
    await session.join({ profile: PROFILE, room_id: "r1", user: USER });
    calls.length = 0;
    assert.equal(await session.sendChat("  hello  ", 1000), "sent");
    assert.deepEqual(calls, [["sendBroadcastMessage", "hello"]]);
    assert.equal(store.state.messages[0]?.message_id, 1);
    assert.equal(store.state.messages[0]?.status, "sent");
    assert.equal(await session.sendChat("   ", 1000), "empty");
    assert.equal(await session.sendChat("x".repeat(1025), 1000), "too-long");
    for (let i = 0; i < 9; i++) await session.sendChat(`m${i}`, 1001);
    assert.equal(await session.sendChat("one too many", 1002), "rate-limited");
    assert.equal(calls.length, 10);
  });

  it("a failed chat message can be retried", async () => {
    const s = setup({ sendBroadcastMessage: { code: 1002032, message: "rate limited" } });
    await s.session.join({ profile: PROFILE, room_id: "r1", user: USER });
    assert.equal(await s.session.sendChat("hi", 1000), "failed");
    const key = s.store.state.messages[0]!.key;
    assert.equal(s.store.state.messages[0]?.error?.code, 1002032);
    assert.equal(await s.session.retryChat(key), "failed");
    assert.equal(s.calls.filter((c) => c[0] === "sendBroadcastMessage").length, 2);
  });
});
