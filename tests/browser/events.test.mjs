// The page's event log shows the same state sequences as the native SDK:
// the same script is played once with a native `confer call` as the subject
// and once with the web debug page, against the same native observer, and
// the per-callback sequences of both logs must equal each other and the
// seed's expected flow.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  callbackName,
  openPageAs,
  pageEvents,
  pageLogin,
  pagePublish,
  serverAndBrowserForTests,
  until,
  waitPageEvent,
} from "./harness.mjs";

const env = serverAndBrowserForTests();

const ids = (list, key) => list.map((x) => x[key] ?? x.user?.user_id ?? x.user_id).sort().join(",");

/** Per-callback state sequences of a log of {name, ...fields}. */
function sequences(events) {
  const of = (name) => events.filter((e) => e.name === name);
  return {
    onRoomStateUpdate: of("onRoomStateUpdate").map((e) => `${e.state} ${e.error_code}`),
    onRoomStateChanged: of("onRoomStateChanged").map((e) => `${e.reason} ${e.error_code}`),
    onRoomUserUpdate: of("onRoomUserUpdate").map((e) => `${e.update_type} [${ids(e.users, "user_id")}]`),
    onRoomOnlineUserCountUpdate: of("onRoomOnlineUserCountUpdate").map((e) => e.count),
    onRoomStreamUpdate: of("onRoomStreamUpdate").map((e) => `${e.update_type} [${ids(e.streams, "stream_id")}]`),
    onRemoteDeviceState: events
      .filter((e) => e.name === "onRemoteMicStateUpdate" || e.name === "onRemoteCameraStateUpdate")
      .map((e) => `${e.name.includes("Mic") ? "mic" : "camera"} ${e.stream_id} ${e.state}`),
    onPublisherStateUpdate: of("onPublisherStateUpdate").map((e) => `${e.stream_id} ${e.state} ${e.error_code}`),
    onPlayerStateUpdate: of("onPlayerStateUpdate").map((e) => `${e.stream_id} ${e.state} ${e.error_code}`),
  };
}

const EXPECTED = {
  onRoomStateUpdate: ["Connecting 0", "Connected 0", "Disconnected 0"],
  onRoomStateChanged: ["Logining 0", "Logined 0", "Logout 0"],
  onRoomUserUpdate: ["Add [obs]", "Delete [obs]"],
  onRoomOnlineUserCountUpdate: [2, 1],
  onRoomStreamUpdate: ["Add [obs-cam]", "Delete [obs-cam]"],
  // The observer publishes without audio (`--audio none`): its microphone is muted.
  onRemoteDeviceState: ["mic obs-cam Mute", "camera obs-cam Open"],
  onPublisherStateUpdate: ["subj-cam PublishRequesting 0", "subj-cam Publishing 0", "subj-cam NoPublish 0"],
  // 1004005 = StreamEnded: the played stream's publisher left.
  onPlayerStateUpdate: ["obs-cam PlayRequesting 0", "obs-cam Playing 0", "obs-cam PlayRequesting 1004005", "obs-cam NoPlay 0"],
};

/** The observer publishes, the subject joins, publishes and plays it, the observer leaves, the subject logs out. */
async function script(room, subject) {
  const observer = env.server.call(room, "obs", ["--publish", "obs-cam", "--audio", "none"]);
  try {
    await observer.waitPublishing();
    await subject.join();
    await subject.waitFor("Publishing", (e) => e.name === "onPublisherStateUpdate" && e.state === "Publishing");
    await subject.waitFor("Playing", (e) => e.name === "onPlayerStateUpdate" && e.state === "Playing");
  } finally {
    await observer.stop();
  }
  await subject.waitFor("stream ended", (e) => e.name === "onPlayerStateUpdate" && e.error_code === 1_004_005);
  await subject.waitFor("user left", (e) => e.name === "onRoomUserUpdate" && e.update_type === "Delete");
  await subject.waitFor("count 1", (e) => e.name === "onRoomOnlineUserCountUpdate" && e.count === 1);
  await subject.leave();
  return sequences(await subject.events());
}

test("the page's event log shows the native SDK's state sequences", async () => {
  // Native subject.
  let native;
  const nativeSeq = await script("events-native", {
    join: async () => {
      native = env.server.call("events-native", "subj", ["--notify-users", "--publish", "subj-cam", "--play", "obs-cam"]);
    },
    waitFor: (what, pred) => until(`native ${what}`, () => native.events.map((e) => ({ ...e, name: callbackName(e.event) })).find(pred)),
    leave: () => native.stop(),
    events: async () => native.events.map((e) => ({ ...e, name: callbackName(e.event) })),
  });

  // The page, driven through its controls.
  const room = "events-web";
  const page = await openPageAs(env, room, "subj", { source: "test", stream: "subj-cam" });
  try {
    const webSeq = await script(room, {
      join: async () => {
        await pageLogin(page);
        await page.click("#publish");
        await page.click('#streams li[data-stream="obs-cam"] button[data-action="play"]');
      },
      waitFor: (what, pred) => waitPageEvent(page, what, pred),
      leave: async () => {
        await page.click("#logout");
        await waitPageEvent(page, "Disconnected", (e) => e.name === "onRoomStateUpdate" && e.state === "Disconnected");
      },
      events: () => pageEvents(page),
    });
    assert.deepEqual(nativeSeq, EXPECTED, "native SDK");
    assert.deepEqual(webSeq, nativeSeq, "page vs native SDK");
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await page.close();
  }
});

test("a dropped connection resumes like the native SDK: media stays, nobody sees churn", async () => {
  const room = "events-resume";
  const observer = env.server.call(room, "obs2", ["--publish", "obs2-cam", "--play", "auto", "--probe", "--notify-users"]);
  const page = await openPageAs(env, room, "subj2", { source: "test", stream: "subj2-cam", autoplay: "1" });
  try {
    await observer.waitPublishing();
    await pageLogin(page);
    await pagePublish(page);
    await waitPageEvent(page, "Playing", (e) => e.name === "onPlayerStateUpdate" && e.state === "Playing");
    const before = (await pageEvents(page)).length;
    // Cut the signaling socket under the engine (as a network drop would).
    await page.evaluate(() => window.conferDebug.engine().room.ws.close());
    await waitPageEvent(page, "Reconnected", (e, i) => i >= before && e.name === "onRoomStateChanged" && e.reason === "Reconnected");
    await waitPageEvent(page, "Publishing again", (e, i) => i >= before && e.name === "onPublisherStateUpdate" && e.state === "Publishing");
    await waitPageEvent(page, "Playing again", (e, i) => i >= before && e.name === "onPlayerStateUpdate" && e.state === "Playing");
    const after = sequences((await pageEvents(page)).slice(before));
    assert.deepEqual(after.onRoomStateUpdate, ["Connecting 1002011", "Connected 0"]);
    assert.deepEqual(after.onRoomStateChanged, ["Reconnecting 1002011", "Reconnected 0"]);
    assert.deepEqual(after.onPublisherStateUpdate, ["subj2-cam PublishRequesting 1002011", "subj2-cam Publishing 0"]);
    assert.deepEqual(after.onPlayerStateUpdate, ["obs2-cam PlayRequesting 1002011", "obs2-cam Playing 0"]);
    assert.deepEqual(after.onRoomUserUpdate, [], "a resume replays no churn");
    // The observer never saw the browser leave, and its video kept coming.
    const decoded = observer.probes("video", "subj2-cam").length;
    await until("more frames after the resume", () => observer.probes("video", "subj2-cam").length > decoded + 30);
    assert.ok(
      !observer.events.some((e) => e.event === "RoomUserUpdate" && e.update_type === "Delete"),
      "the observer saw the browser leave",
    );
    assert.deepEqual(page.consoleErrors, []);
  } finally {
    await observer.stop();
    await page.close();
  }
});

test("a token without the publish privilege cannot publish from the page either", async () => {
  const room = "events-watch-only";
  const observer = env.server.call(room, "obs3", ["--play", "viewer-cam", "--probe"]);
  const page = await openPageAs(env, room, "viewer", { grants: { publish: false }, source: "test", stream: "viewer-cam" });
  try {
    await pageLogin(page);
    await page.click("#publish");
    // 1007008 = TokenNoPublishPrivilege; the room stays joined.
    const refused = await waitPageEvent(page, "NoPublish", (e) => e.name === "onPublisherStateUpdate" && e.state === "NoPublish");
    assert.equal(refused.error_code, 1_007_008);
    const seq = sequences(await pageEvents(page));
    assert.ok(!seq.onPublisherStateUpdate.some((s) => s.includes("Publishing ")), seq.onPublisherStateUpdate.join("; "));
    assert.deepEqual(seq.onRoomStateUpdate, ["Connecting 0", "Connected 0"]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(observer.probes("video", "viewer-cam").length, 0, "the observer decoded frames");
    assert.ok(
      !observer.events.some((e) => e.event === "RoomStreamUpdate" && e.update_type === "Add"),
      "the observer saw a stream",
    );
  } finally {
    await observer.stop();
    await page.close();
  }
});

test("Renew token says what the server answered, not what the page hoped", async () => {
  const room = "events-renew";
  const page = await openPageAs(env, room, "renewer", { source: "test", stream: "renewer-cam" });
  try {
    await pageLogin(page);
    // A token for someone else: the server refuses it (TokenWrongUser), and
    // the banner says so instead of a green "Token renewed.".
    await page.fill("#token", env.server.token("someone-else", { room }));
    await page.click("#login");
    const refused = await until("the refusal in the banner", async () => {
      const text = await page.textContent("#banner");
      return /refused/.test(text) ? text : null;
    });
    assert.match(refused, /TokenWrongUser/, refused);
    assert.doesNotMatch(refused, /Token renewed/, refused);
    await page.fill("#token", env.server.token("renewer", { room, ttl: 7200 }));
    await page.click("#login");
    await until("the renewal in the banner", async () => /Token renewed\./.test(await page.textContent("#banner")));
  } finally {
    await page.close();
  }
});
