// Replays every golden transcript of media-core's room session
// (media-core/tests/fixtures/transcripts/, written by the session's tests)
// into WebEngine through a fake shell: the same inputs at the same times
// must give the same client messages, connections, media legs, broadcast
// results and events (under the SDK callbacks' names), in order, step by
// step. Where the page legitimately differs, the difference is named below.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { SdkError, WebEngine, type SdkEvent } from "../src/engine.js";
import type { MediaRole } from "../src/protocol.js";
import type { PublishChannel } from "../src/generated/events.js";
import { FakeShell, type Done } from "./fakes.js";

const DIR = process.env.CONFER_TRANSCRIPTS ?? "media-core/tests/fixtures/transcripts";

/** The page logs in with tokens only: a login the session made with the AppSign gets this one. */
const PAGE_TOKEN = "CF1.page.sig";

/** The server URL the replayed engine is created with (a native `connect` without a URL goes there). */
const REPLAY_URL = "ws://replay/ws";

/** Transcript JSON (the protocol's and the events' serde forms), read field by field. */
type Json = any;

interface Transcript {
  name: string;
  config: { app_id: number; retry_window_ms: number };
  steps: { at_ms?: number; input?: Json; output?: Json }[];
}

/** One input and the outputs that followed it. */
interface Group {
  at: number;
  input: Json;
  outputs: Json[];
}

/** What one step produced, by kind (each kind in order). */
interface Effects {
  /** connect, send and close on the signaling connections. */
  wire: Json[];
  events: Json[];
  /** negotiate, answer and remote candidates (closes are checked apart). */
  media: Json[];
  broadcasts: Json[];
}

function groups(t: Transcript): Group[] {
  const out: Group[] = [];
  for (const step of t.steps) {
    if (step.input !== undefined) out.push({ at: step.at_ms ?? 0, input: step.input, outputs: [] });
    else out[out.length - 1]!.outputs.push(step.output);
  }
  return out;
}

/** The native event name of a page callback: onRoomStateUpdate -> RoomStateUpdate. */
function nativeName(callback: string): string {
  if (callback === "onDebugError") return "Debug";
  if (callback === "onIMRecvBroadcastMessage") return "RoomBroadcastMessage";
  return callback.replace(/^on/, "");
}

const key = (role: MediaRole, streamId: string): string => `${role}:${streamId}`;

/** The media side's state the checks need across steps. */
interface Tracking {
  /** The stream the page publishes on each channel. */
  publishing: Map<string, string>;
  /** The ICE servers the session last handed the media side, as the browser takes them. */
  iceServers: RTCIceServer[];
}

/**
 * The session's outputs as the page's effects: its expected effects, and
 * the media legs it may close in this step (`closes` must be closed,
 * `mayClose` may be).
 */
function expected(
  outputs: Json[],
  track: Tracking,
): { effects: Effects; closes: string[]; mayClose: Set<string>; layers: Json | null } {
  const effects: Effects = { wire: [], events: [], media: [], broadcasts: [] };
  const closes: string[] = [];
  const mayClose = new Set<string>();
  let layers: Json | null = null;
  for (const o of outputs) {
    switch (o.kind) {
      case "connect":
        // The native session names a URL only when redirected.
        effects.wire.push({ kind: o.kind, conn: o.conn, url: o.url ?? REPLAY_URL });
        break;
      case "close":
        effects.wire.push({ kind: o.kind, conn: o.conn });
        break;
      case "send": {
        const msg = { ...o.msg };
        if (msg.type === "login" && msg.credentials.kind === "app_sign") {
          // Allowed: the page has no AppSign; it logs in with a token.
          msg.credentials = { kind: "token", token: PAGE_TOKEN };
        }
        effects.wire.push({ kind: "send", conn: o.conn, msg });
        break;
      }
      case "event":
        effects.events.push(o.event);
        break;
      case "broadcast_done":
        effects.broadcasts.push(o);
        break;
      case "media": {
        const c = o.command;
        switch (c.kind) {
          case "negotiate":
            // A new leg is opened with the ICE servers handed over last.
            effects.media.push({ kind: "negotiate", stream_id: c.stream_id, role: c.role, ice_servers: track.iceServers });
            // Negotiating replaces the stream's previous connection.
            mayClose.add(key(c.role, c.stream_id));
            break;
          case "answer":
          case "remote_candidate":
            effects.media.push(c);
            break;
          case "close_transport":
            closes.push(key(c.role, c.stream_id));
            break;
          // Allowed: the page has no capture/render pipeline of its own; stopping
          // one closes its peer connection, starting one does nothing yet.
          case "stop_publishing": {
            const streamId = track.publishing.get(c.channel);
            if (streamId !== undefined) mayClose.add(key("publish", streamId));
            break;
          }
          case "stop_playing":
            mayClose.add(key("play", c.stream_id));
            break;
          case "start_publishing":
          case "start_playing":
            break;
          // The page keeps the SFU's dynacast layers for its publisher and
          // applies them to its leg (checked on the engine's state).
          case "video_layers":
            layers = { stream_id: c.stream_id, active: c.active };
            break;
          // The page keeps them for the legs it opens next (checked there).
          case "ice_servers":
            track.iceServers = c.servers.map((s: Json) => ({
              urls: s.urls,
              ...(s.username ? { username: s.username, credential: s.credential } : {}),
            }));
            break;
          default:
            throw new Error(`unknown media command ${JSON.stringify(c)}`);
        }
        break;
      }
      default:
        throw new Error(`unknown output ${JSON.stringify(o)}`);
    }
  }
  return { effects, closes, mayClose, layers };
}

/** Runs one transcript; fails at the first step whose effects differ. */
async function replay(t: Transcript): Promise<number> {
  const fake = new FakeShell();
  const engine = new WebEngine(
    { server: REPLAY_URL, appId: t.config.app_id, retryWindowMs: t.config.retry_window_ms },
    fake.shell,
  );
  const events: SdkEvent[] = [];
  engine.onEvent = (e) => events.push(e);
  // Something to send on both channels, so that nothing is muted for want of a device.
  const track = {} as MediaStreamTrack;
  engine.setLocalMedia({ audio: track, video: track }, "Main");
  engine.setLocalMedia({ audio: track, video: track }, "Aux");
  const broadcasts: Json[] = [];
  const tracking: Tracking = { publishing: new Map(), iceServers: [] };

  const all = groups(t);
  for (const [i, g] of all.entries()) {
    const where = `${t.name}, input ${i + 1} of ${all.length} at ${g.at} ms: ${JSON.stringify(g.input)}`;
    const refused = await apply(engine, fake, g, broadcasts, tracking);
    assert.equal(refused, g.input.error_code ?? null, `${where}: the call's error code`);
    // Events, offers and answers are delivered after the step (promises, microtasks).
    for (let n = 0; n < 3; n++) await new Promise((r) => setTimeout(r, 0));
    const want = expected(g.outputs, tracking);
    const did = fake.take();
    const got: Effects = {
      wire: did.filter((d) => d.kind === "connect" || d.kind === "send" || d.kind === "close"),
      events: events.splice(0).map((e) => ({ event: nativeName(e.name), ...e.data })),
      media: did.filter((d) => d.kind === "negotiate" || d.kind === "answer" || d.kind === "remote_candidate"),
      broadcasts: broadcasts.splice(0),
    };
    assert.deepEqual(got, want.effects, where);
    const closed = did.filter((d): d is Extract<Done, { kind: "close_transport" }> => d.kind === "close_transport");
    const closedKeys = closed.map((d) => key(d.role, d.stream_id));
    for (const k of want.closes) assert.ok(closedKeys.includes(k), `${where}: ${k} must close (closed: ${closedKeys})`);
    for (const k of closedKeys)
      assert.ok(want.closes.includes(k) || want.mayClose.has(k), `${where}: ${k} closed, the session keeps it`);
    if (want.layers) {
      assert.equal(engine.publishing?.streamId, want.layers.stream_id, `${where}: dynacast for a stream the page does not publish`);
      assert.deepEqual(engine.publishedLayers, want.layers.active, `${where}: the publisher's layers`);
    }
  }
  return all.length;
}

/** Gives the engine one input; returns the code of the call's refusal, if any. */
async function apply(engine: WebEngine, fake: FakeShell, g: Group, broadcasts: Json[], tracking: Tracking): Promise<number | null> {
  const input = g.input;
  if (input.kind === "tick") fake.clock.runTo(g.at);
  else fake.clock.set(g.at);
  const call = (f: () => void): number | null => {
    try {
      f();
      return null;
    } catch (e) {
      if (e instanceof SdkError) return e.code;
      throw e;
    }
  };
  switch (input.kind) {
    case "tick":
      return null;
    case "login":
      return call(() =>
        engine.loginRoom(input.room_id, input.user, {
          token: input.token ?? PAGE_TOKEN,
          isUserStatusNotify: input.is_user_status_notify,
        }),
      );
    case "logout":
      return call(() => engine.logoutRoom());
    case "start_publishing":
      return call(() => {
        engine.startPublishingStream(input.stream_id, input.channel);
        tracking.publishing.set(input.channel, input.stream_id);
      });
    case "stop_publishing":
      return call(() => engine.stopPublishingStream(input.channel));
    case "start_playing":
      return call(() => engine.startPlayingStream(input.stream_id));
    case "stop_playing":
      return call(() => engine.stopPlayingStream(input.stream_id));
    case "set_play_video_layer":
      return call(() => engine.setPlayStreamVideoLayer(input.stream_id, input.max_layer));
    case "renew_token":
      // Its answer shows as events and messages; the promise's own result is not compared.
      return refusedAtOnce(engine.renewToken(input.token));
    case "send_broadcast": {
      const p = engine.sendBroadcastMessage(input.text);
      const sent = [...fake.peek()].reverse().find((d) => d.kind === "send" && d.msg.type === "send_broadcast");
      if (sent?.kind !== "send" || sent.msg.text !== input.text) return refusedAtOnce(p);
      const request = sent.msg.request_id;
      p.then(
        (message_id) => broadcasts.push({ kind: "broadcast_done", request, message_id }),
        (e: SdkError) => broadcasts.push({ kind: "broadcast_done", request, error_code: e.code }),
      );
      return null;
    }
    case "set_local_mute": {
      const [which, channel] = Object.entries(input.mute as Record<string, PublishChannel | null>)[0]!;
      const on = input.on as boolean;
      if (which === "microphone") engine.muteMicrophone(on);
      else if (which === "stream_audio") engine.mutePublishStreamAudio(on, channel ?? "Main");
      else if (which === "stream_video") engine.mutePublishStreamVideo(on, channel ?? "Main");
      else if (which === "camera_off") engine.enableCamera(!on, channel ?? "Main");
      else throw new Error(`unknown mute ${which}`);
      return null;
    }
    case "opened":
      fake.socket(input.conn).open = true;
      return null;
    case "message":
      fake.socket(input.conn).receive(input.msg);
      return null;
    case "closed":
      fake.socket(input.conn).drop();
      return null;
    case "media": {
      const leg = fake.legs.get(key(input.role, input.stream_id));
      if (!leg || leg.closed) return null;
      const fact = input.fact;
      if (fact === "connected") leg.events.connected();
      else if (typeof fact.offer === "string") leg.offers(fact.offer);
      else if (typeof fact.failed === "string") leg.events.failed(fact.failed);
      else if (fact.candidate) leg.events.candidate(fact.candidate);
      else throw new Error(`unknown media fact ${JSON.stringify(fact)}`);
      return null;
    }
    default:
      throw new Error(`the replay has no page equivalent for ${JSON.stringify(input)}`);
  }
}

/** The code a promise-returning call was refused with at once (null: it went ahead). */
function refusedAtOnce(p: Promise<unknown>): Promise<number | null> {
  const code = p.then(
    () => null,
    (e: unknown) => (e instanceof SdkError ? e.code : -1),
  );
  return Promise.race([code, new Promise<null>((r) => setTimeout(() => r(null), 0))]);
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".json"))
  .sort();
let inputs = 0;
for (const file of files) {
  const t = JSON.parse(readFileSync(`${DIR}/${file}`, "utf8")) as Transcript;
  test(`the page replays ${t.name}`, async () => {
    inputs += await replay(t);
  });
}

test("every transcript was replayed", () => {
  assert.ok(files.length >= 12, `only ${files.length} transcripts in ${DIR}`);
  console.log(`replayed ${files.length} transcripts, ${inputs} inputs`);
});
