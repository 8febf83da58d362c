import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { describeShareError, ShareController } from "../src/share.js";
import { createCallStore, initialState, people, reduce, type Action, type CallState } from "../src/state.js";
import { presentedShare, shareTookStage } from "../src/presenter.js";
import { groupSources, moveSelection } from "../src/call/share-picker.js";
import { isShareStream, mainStreamId, shareStreamId } from "../src/names.js";
import { sortTiles, stableOrder, type OrderTile } from "../src/stage-order.js";
import { wantedLayer } from "../src/layer-caps.js";
import { SHORTCUT_HELP, SHORTCUT_KEYS, shortcutFor, type KeyInput } from "../src/shortcuts.js";
import type { ShareSource, ShareStatus } from "../src/generated/app.js";
import type { SdkEvent } from "../src/types.js";
import { ErrorCode } from "../src/generated/error-codes.js";
import { fakeApi } from "./fake-api.js";
import { CallSession } from "../src/session.js";

const ROOM = "room-abc";
const ME = { user_id: "u-me", user_name: "Me" };
const BOB = { user_id: "bob", user_name: "Bob" };
const SCREEN: ShareSource = { id: "screen:0", kind: "screen", name: "Screen 1", width: 1280, height: 800, thumbnail: "data:image/png;base64,iVBORw0KGgo=" };
const EDITOR: ShareSource = { id: "window:4194311", kind: "window", name: "notes.txt - Editor", width: 900, height: 600, thumbnail: null };

/** A store in a call (joined, connected). */
function inCall(): ReturnType<typeof createCallStore> {
  const store = createCallStore();
  store.dispatch({ event: "app/join", room_id: ROOM, self: ME, stream_id: mainStreamId(ME.user_id) });
  store.dispatch({ event: "RoomStateUpdate", room_id: ROOM, state: "Connected", error_code: 0, extended_data: "{}" });
  return store;
}

const status = (state: ShareStatus["state"], source = EDITOR): ShareStatus => ({ stream_id: "u-me-screen", source, state });
const captureEvent = (state: ShareStatus["state"], error_code = 0, info = ""): SdkEvent => ({ event: "ScreenCaptureStateUpdate", state, error_code, info });

describe("share stream IDs", () => {
  it("a user's share is `<user>-screen` (the main stream's base), and is recognised as a share", () => {
    assert.equal(shareStreamId("u-me"), "u-me-screen");
    assert.equal(shareStreamId("ann lee"), "ann_lee-screen");
    assert.equal(isShareStream("bob-screen"), true);
    assert.equal(isShareStream("bob-main"), false);
    assert.equal(isShareStream("screen"), false);
  });
});

describe("ShareController (start, follow the SDK's events, stop)", () => {
  it("start publishes `<user>-screen` with the hint; the state shows the share until stop", async () => {
    const store = inCall();
    const { api, calls } = fakeApi();
    api.startShare = async (a) => {
      calls.push(["startShare", a]);
      return status("Capturing");
    };
    const share = new ShareController(api, store);
    assert.equal(await share.start(EDITOR.id, "motion"), true);
    assert.deepEqual(calls.at(-1), ["startShare", { source_id: EDITOR.id, hint: "motion", stream_id: "u-me-screen" }]);
    assert.deepEqual(store.state.share, { stream_id: "u-me-screen", source: EDITOR });
    assert.equal(share.sharing, true);
    await share.stop();
    assert.equal(store.state.share, null);
    assert.equal(calls.at(-1)![0], "stopShare");
  });

  it("the shared window closing (SourceGone) ends the share with a toast that names it, and lets go of it", async () => {
    const store = inCall();
    const { api, names } = fakeApi();
    api.startShare = async () => status("Capturing");
    const share = new ShareController(api, store);
    await share.start(EDITOR.id, "text");
    share.onEvent(captureEvent("Capturing"));
    assert.notEqual(store.state.share, null, "still capturing");
    share.onEvent(captureEvent("SourceGone", ErrorCode.ScreenSourceGone));
    assert.equal(store.state.share, null);
    const n = store.state.notices.at(-1)!;
    assert.equal(n.title, "Sharing stopped");
    assert.match(n.detail, /notes\.txt - Editor/);
    assert.equal(n.code, ErrorCode.ScreenSourceGone);
    await share.stop();
    assert.ok(names().includes("stopShare"), "the app lets go of the ended share");
  });

  it("a failed capture ends it too, with the SDK's reason; events without a share change nothing", async () => {
    const store = inCall();
    const { api } = fakeApi();
    api.startShare = async () => status("Capturing");
    const share = new ShareController(api, store);
    share.onEvent(captureEvent("SourceGone", ErrorCode.ScreenSourceGone));
    assert.equal(store.state.notices.length, 0);
    await share.start(SCREEN.id, "text");
    share.onEvent(captureEvent("Failed", ErrorCode.ScreenCaptureFailed, "the display server refused GetImage"));
    assert.equal(store.state.share, null);
    assert.match(store.state.notices.at(-1)!.detail, /refused GetImage/);
  });

  it("a refused start is a readable toast with its code, and nothing is shared", async () => {
    const store = inCall();
    const { api } = fakeApi({ startShare: { code: ErrorCode.ScreenSourceGone, message: "the window or screen to share is gone" } });
    const share = new ShareController(api, store);
    assert.equal(await share.start(EDITOR.id, "text"), false);
    assert.equal(store.state.share, null);
    const n = store.state.notices.at(-1)!;
    assert.equal(n.code, ErrorCode.ScreenSourceGone);
    assert.equal(n.title, "That window or screen is gone");
  });

  it("listing failures are toasts; stop without a share calls nothing", async () => {
    const store = inCall();
    const { api, names } = fakeApi({ listShareSources: { code: ErrorCode.NoDisplay, message: "cannot connect to the display" } });
    const share = new ShareController(api, store);
    assert.equal(await share.sources(), null);
    assert.equal(store.state.notices.at(-1)!.title, "There is no screen to share");
    await share.stop();
    assert.ok(!names().includes("stopShare"));
  });

  it("error texts: permission denied, source gone, no engine, anything else", () => {
    assert.equal(describeShareError({ code: ErrorCode.PermissionDenied, message: "" }).title, "Screen sharing was not allowed");
    assert.equal(describeShareError({ code: ErrorCode.ScreenSourceGone, message: "" }).title, "That window or screen is gone");
    assert.equal(describeShareError({ code: ErrorCode.EngineDestroyed, message: "" }).detail, "Join a call first.");
    assert.equal(describeShareError({ code: ErrorCode.ScreenCaptureFailed, message: "GetImage refused" }).detail, "GetImage refused");
  });
});

describe("leaving stops the share first", () => {
  it("leave and rejoin stop a running share before they log out", async () => {
    const store = inCall();
    const { api, names } = fakeApi();
    api.startShare = async () => status("Capturing");
    const share = new ShareController(api, store);
    const session = new CallSession(api, store);
    session.beforeLeave = () => share.stop();
    session.joined = { profile: { server: "ws://127.0.0.1:1/ws", app_id: 1 }, room_id: ROOM, user: ME };
    await share.start(EDITOR.id, "text");
    await session.rejoin();
    assert.ok(names().indexOf("stopShare") < names().indexOf("logoutRoom"), names().join(" "));
    assert.equal(store.state.share, null);
    await share.start(EDITOR.id, "text");
    const before = names().length;
    await session.leave();
    const after = names().slice(before);
    assert.equal(after[0], "stopShare", after.join(" "));
  });
});

describe("state: our share", () => {
  it("app/share sets and clears it; joining and leaving clear it", () => {
    let s: CallState = reduce(initialState(), { event: "app/join", room_id: ROOM, self: ME, stream_id: "u-me-main" });
    s = reduce(s, { event: "app/share", share: { stream_id: "u-me-screen", source: SCREEN } });
    assert.equal(s.share?.source.name, "Screen 1");
    const same = reduce({ ...s, share: null }, { event: "app/share", share: null });
    assert.equal(same.share, null);
    assert.equal(reduce(s, { event: "app/left" }).share, null);
    assert.equal(reduce(s, { event: "app/join", room_id: ROOM, self: ME, stream_id: "u-me-main" }).share, null);
  });

  it("the people list shows a sharer's camera stream state, not the share's", () => {
    const actions: Action[] = [
      { event: "app/join", room_id: ROOM, self: ME, stream_id: "u-me-main" },
      { event: "RoomStateUpdate", room_id: ROOM, state: "Connected", error_code: 0, extended_data: "{}" },
      { event: "RoomStreamUpdate", room_id: ROOM, update_type: "Add", extended_data: "{}", streams: [{ stream_id: "bob-screen", user: BOB, extra_info: "" }] },
      { event: "RoomStreamUpdate", room_id: ROOM, update_type: "Add", extended_data: "{}", streams: [{ stream_id: "bob-main", user: BOB, extra_info: "" }] },
      { event: "RemoteMicStateUpdate", stream_id: "bob-main", state: "Mute" },
    ];
    const s = actions.reduce(reduce, initialState());
    const bob = people(s).find((p) => p.user_id === "bob")!;
    assert.equal(bob.mic, false);
  });
});

describe("presenter layout rules (UX.md §2 'Screen share')", () => {
  it("the first remote share (join order) goes on the stage, else our own", () => {
    assert.equal(presentedShare([]), null);
    assert.equal(presentedShare([{ key: "own-share", own: true, joinSeq: -0.5 }]), "own-share");
    assert.equal(
      presentedShare([
        { key: "own-share", own: true, joinSeq: -0.5 },
        { key: "stream:zed-screen", own: false, joinSeq: 7 },
        { key: "stream:bob-screen", own: false, joinSeq: 3 },
      ]),
      "stream:bob-screen",
    );
  });

  it("a new share takes the stage; the same one, or none, does not", () => {
    assert.equal(shareTookStage(null, "stream:bob-screen"), true);
    assert.equal(shareTookStage("stream:bob-screen", "stream:zed-screen"), true);
    assert.equal(shareTookStage("stream:bob-screen", "stream:bob-screen"), false);
    assert.equal(shareTookStage("stream:bob-screen", null), false);
  });

  it("tile order: self, then shares, then the rest; a share is never swapped out for a speaker", () => {
    const t = (key: string, o: Partial<OrderTile> = {}): OrderTile => ({ key, self: false, speaking: false, lastSpokeAt: 0, cameraOn: true, joinSeq: 5, ...o });
    const tiles = [t("r1", { joinSeq: 1, speaking: true, lastSpokeAt: 9 }), t("s", { share: true, joinSeq: 9 }), t("me", { self: true })];
    assert.deepEqual(sortTiles(tiles).map((x) => x.key), ["me", "s", "r1"]);
    // A share arriving later joins right after self, not at the end.
    assert.deepEqual(stableOrder(["me", "r1", "r2"], [...tiles, t("r2", { joinSeq: 2 })], 9), ["me", "s", "r1", "r2"]);
    // Page of 2 (me, s): r1 speaks off the page but may not replace self or the share.
    assert.deepEqual(stableOrder(["me", "s", "r2", "r1"], [...tiles, t("r2", { joinSeq: 2 })], 2), ["me", "s", "r2", "r1"]);
  });

  it("a remote share asks for the high layer wherever it is shown, even as a strip thumbnail", () => {
    assert.equal(wantedLayer({ streamId: "bob-screen", heightPx: 90, shown: true, thumbnail: true, share: true }, null), "high");
    assert.equal(wantedLayer({ streamId: "bob-screen", heightPx: 90, shown: false, thumbnail: false, share: true }, null), "low");
    assert.equal(wantedLayer({ streamId: "bob-main", heightPx: 90, shown: true, thumbnail: true }, null), "low");
  });
});

describe("share picker keys and groups", () => {
  it("arrows move in a grid of cards (clamped), Home/End jump, other keys are not taken", () => {
    assert.equal(moveSelection(0, 5, "ArrowRight", 3), 1);
    assert.equal(moveSelection(0, 5, "ArrowLeft", 3), 0);
    assert.equal(moveSelection(1, 5, "ArrowDown", 3), 4);
    assert.equal(moveSelection(2, 5, "ArrowDown", 3), 4);
    assert.equal(moveSelection(4, 5, "ArrowUp", 3), 1);
    assert.equal(moveSelection(3, 5, "Home", 3), 0);
    assert.equal(moveSelection(0, 5, "End", 3), 4);
    assert.equal(moveSelection(0, 5, "a", 3), null);
    assert.equal(moveSelection(0, 0, "ArrowRight", 3), null);
  });

  it("screens first, then windows", () => {
    const g = groupSources([EDITOR, SCREEN]);
    assert.deepEqual(g.screens, [SCREEN]);
    assert.deepEqual(g.windows, [EDITOR]);
  });
});

describe("share shortcut", () => {
  const key = (k: string, more: Partial<KeyInput> = {}): KeyInput => ({
    type: "keydown", key: k, ctrl: false, meta: false, alt: false, shift: false, repeat: false, inTextField: false, ...more,
  });
  const ctx = { micMuted: false, pttActive: false };

  it("Ctrl/Cmd+Shift+S shares or stops, in text fields too; not on repeat, not with Alt, not without Shift", () => {
    assert.equal(shortcutFor(key("S", { ctrl: true, shift: true }), ctx), "toggle-share");
    assert.equal(shortcutFor(key("S", { meta: true, shift: true, inTextField: true }), ctx), "toggle-share");
    assert.equal(shortcutFor(key("S", { ctrl: true, shift: true, repeat: true }), ctx), null);
    assert.equal(shortcutFor(key("S", { ctrl: true, shift: true, alt: true }), ctx), null);
    assert.equal(shortcutFor(key("s", { ctrl: true }), ctx), null);
  });

  it("is in the tooltips' keys and the help overlay", () => {
    assert.equal(SHORTCUT_KEYS["toggle-share"], "Ctrl+Shift+S");
    assert.ok(SHORTCUT_HELP.some((r) => r.combos.some((c) => c.join("+") === "Ctrl+Shift+S")));
  });
});
