// The page's two publish channels (a camera on Main, a shared screen on
// Aux), through the fake shell: each channel announces its own stream and
// opens its own leg, a stream ID is published on one channel only,
// stopping one leaves the other, mutes are per channel (the microphone's
// covers both) and a new server session announces both again, as the
// native session does (media-core/src/room/session/publish.rs). The golden
// transcripts publish on Main only.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode } from "../src/protocol.js";
import { SdkError, WebEngine, type SdkEvent } from "../src/engine.js";
import { FakeShell, type Done } from "./fakes.js";

const LOGIN_OK = {
  type: "login_ok",
  session_id: "s1",
  resume_key: "k1",
  room_id: "r1",
  seq: 0,
  heartbeat_interval_ms: 5000,
  heartbeat_timeout_ms: 15000,
  ice_servers: [],
  online_count: 1,
  users: [],
  streams: [],
};

/** A logged-in engine with something to send on both channels. */
async function loggedIn(): Promise<{ engine: WebEngine; fake: FakeShell; events: SdkEvent[] }> {
  const fake = new FakeShell();
  const engine = new WebEngine({ server: "ws://test/ws", appId: 1 }, fake.shell);
  const events: SdkEvent[] = [];
  engine.onEvent = (e) => events.push(e);
  const track = {} as MediaStreamTrack;
  engine.setLocalMedia({ audio: track, video: track }, "Main");
  engine.setLocalMedia({ audio: null, video: track }, "Aux");
  engine.loginRoom("r1", { user_id: "u1", user_name: "u1" }, { token: "CF1.t.s", isUserStatusNotify: false });
  const socket = fake.socket(1);
  socket.open = true;
  socket.receive({ type: "challenge", nonce: "n1", version: 1 });
  socket.receive(LOGIN_OK);
  await settle();
  fake.take();
  events.splice(0);
  return { engine, fake, events };
}

const settle = async (): Promise<void> => {
  for (let n = 0; n < 3; n++) await new Promise((r) => setTimeout(r, 0));
};

/** The code a call was refused with (null: it went ahead). */
function refused(f: () => void): number | null {
  try {
    f();
    return null;
  } catch (e) {
    if (e instanceof SdkError) return e.code;
    throw e;
  }
}

const sent = (done: Done[], type: string): Record<string, unknown>[] =>
  done.flatMap((d) => (d.kind === "send" && d.msg.type === type ? [d.msg] : []));

test("Main and Aux publish two streams of the user on their own legs", async () => {
  const { engine, fake, events } = await loggedIn();
  engine.startPublishingStream("u1-cam");
  assert.equal(refused(() => engine.startPublishingStream("u1-cam", "Aux")), ErrorCode.StreamIdInUse);
  engine.startPublishingStream("u1-screen", "Aux");
  assert.equal(refused(() => engine.startPublishingStream("u1-x", "Aux")), ErrorCode.AlreadyPublishing);
  const announced = sent(fake.take(), "publish_stream");
  assert.deepEqual(
    announced.map((m) => [m.stream_id, m.audio_muted, m.video_muted]),
    [
      ["u1-cam", false, false],
      // The share sends no audio: announced muted.
      ["u1-screen", true, false],
    ],
  );
  const socket = fake.socket(1);
  for (const m of announced)
    socket.receive({ type: "ack", request_id: m.request_id, body: { kind: "stream_published", stream_id: m.stream_id } });
  await settle();
  assert.deepEqual(
    fake.take().filter((d) => d.kind === "negotiate").map((d) => d.kind === "negotiate" && d.stream_id),
    ["u1-cam", "u1-screen"],
  );
  fake.legs.get("publish:u1-screen")!.events.connected();
  await settle();
  assert.deepEqual(engine.publishingOn("Aux"), { streamId: "u1-screen", state: "Publishing" });
  assert.equal(engine.publishing?.state, "PublishRequesting", "Main's leg is not up yet");

  // A stream mute is per channel; the microphone's covers both.
  engine.mutePublishStreamVideo(true, "Aux");
  engine.muteMicrophone(true);
  assert.deepEqual(
    sent(fake.take(), "stream_state").map((m) => [m.stream_id, m.audio_muted, m.video_muted]),
    [
      ["u1-screen", true, true],
      ["u1-cam", true, false],
    ],
  );

  // Stopping the share leaves the camera.
  events.splice(0);
  engine.stopPublishingStream("Aux");
  await settle();
  const done = fake.take();
  assert.deepEqual(sent(done, "stop_publishing").map((m) => m.stream_id), ["u1-screen"]);
  assert.ok(done.some((d) => d.kind === "close_transport" && d.stream_id === "u1-screen"));
  assert.ok(!done.some((d) => d.kind === "close_transport" && d.stream_id === "u1-cam"));
  assert.deepEqual(
    events.map((e) => [e.name, e.data.stream_id, e.data.state]),
    [["onPublisherStateUpdate", "u1-screen", "NoPublish"]],
  );
  assert.equal(engine.publishingOn("Aux"), null);
  assert.equal(engine.publishing?.streamId, "u1-cam");
});

test("a new server session announces both channels' streams again", async () => {
  const { engine, fake } = await loggedIn();
  engine.startPublishingStream("u1-cam");
  engine.startPublishingStream("u1-screen", "Aux");
  fake.take();
  // The session is gone: a fresh login on a new connection.
  fake.socket(1).receive({ type: "session_expired", code: ErrorCode.SessionExpired, message: "gone" });
  fake.clock.runTo(10_000);
  const socket = fake.sockets.at(-1)!;
  socket.open = true;
  socket.receive({ type: "challenge", nonce: "n2", version: 1 });
  socket.receive({ ...LOGIN_OK, session_id: "s2" });
  await settle();
  assert.deepEqual(
    sent(fake.take(), "publish_stream").map((m) => m.stream_id),
    ["u1-cam", "u1-screen"],
  );
});
