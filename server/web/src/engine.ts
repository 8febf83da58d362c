// The page's SDK: the same signaling flow as media-core's room session
// (media-core/src/room/session/) in TypeScript, over the JSON protocol on
// /ws, logging in with a token. Events come out in order under the SDK
// callbacks' names (onRoomStateUpdate, onRoomStreamUpdate, ...), with the
// same fields and the same state sequences as the native SDK's events.

import { Leg, type LegEvents } from "./media.js";
import {
  ErrorCode,
  PROTOCOL_VERSION,
  type AckBody,
  type ClientMessage,
  type IceCandidate,
  type IceServer,
  type LoginOk,
  type MediaRole,
  type RoomEvent,
  type SequencedEvent,
  type ServerMessage,
  type StreamInfo,
  type UserInfo,
  type VideoLayer,
} from "./protocol.js";
import { StatsSampler, type Quality } from "./stats.js";
import type {
  PlayerState,
  PublishChannel,
  PublisherState,
  RoomState,
  RoomStateChangedReason,
  Stream,
} from "./generated/events.js";

/** One SDK event: its callback name and its fields (as the native SDK's JSON). */
export interface SdkEvent {
  name: string;
  data: Record<string, unknown>;
  /** Unix milliseconds when it was emitted. */
  at: number;
}

export interface EngineOptions {
  /** Signaling URL, e.g. ws://127.0.0.1:8080/ws. */
  server: string;
  appId: number;
  /** How long to keep retrying after the connection drops (default 20 min). */
  retryWindowMs?: number;
}

export interface RoomConfig {
  token: string;
  isUserStatusNotify: boolean;
}

const HANDSHAKE_TIMEOUT_MS = 10_000;
const SILENCE_GRACE_MS = 2_000;
const TOKEN_WARNING_MS = 30_000;
const MEDIA_RETRY_MS = 1_000;
const NEGOTIATION_TIMEOUT_MS = 15_000;
const QUALITY_INTERVAL_MS = 3_000;
const STATS_INTERVAL_MS = 1_000;
const INITIAL_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;
const NO_DATA = "{}";

/** The publish channels, in the native session's order: Main (camera), Aux (a shared screen). */
export const CHANNELS: readonly PublishChannel[] = ["Main", "Aux"];

/** Why a call was refused at once (the native SDK's typed errors). */
export class SdkError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

type MediaLink = "idle" | "negotiating" | "connected" | "retry";

interface Publisher {
  channel: PublishChannel;
  streamId: string;
  state: PublisherState;
  acked: boolean;
  request: number | null;
  leg: MediaLeg | null;
  link: MediaLink;
  timer: Timer | null;
  told: { audio_muted: boolean; video_muted: boolean };
  stats: StatsSampler | null;
  /** The simulcast layers the SFU last asked for (dynacast); null: none yet, send all. */
  layers: VideoLayer[] | null;
}

interface Player {
  streamId: string;
  state: PlayerState;
  live: boolean;
  leg: MediaLeg | null;
  link: MediaLink;
  timer: Timer | null;
  stream: MediaStream;
  stats: StatsSampler | null;
  gotAudio: boolean;
  /** The highest simulcast layer to receive (`high`: no cap). */
  maxLayer: VideoLayer;
}

type Request =
  | { kind: "publish"; channel: PublishChannel }
  | { kind: "stop"; streamId: string }
  | { kind: "renew"; resolve: () => void; reject: (e: SdkError) => void }
  | { kind: "broadcast"; resolve: (id: number) => void; reject: (e: SdkError) => void }
  /** `play_stream`, with the player's cap when sent; `sentOn`: the connection it went out on. */
  | { kind: "play"; streamId: string; sentOn: SignalSocket | null }
  | { kind: "stop_play"; streamId: string }
  /** `play_video_layer`: a new cap for a play the server already has. */
  | { kind: "layer"; streamId: string; maxLayer: VideoLayer }
  | { kind: "offer"; streamId: string; role: MediaRole; leg: MediaLeg }
  | { kind: "stream_state"; channel: PublishChannel };

type Link = "waiting" | "connecting" | "authenticating" | "live";

interface Room {
  roomId: string;
  /** The ICE servers the server handed out at the last login. */
  iceServers: RTCIceServer[];
  user: UserInfo;
  config: RoomConfig;
  link: Link;
  resuming: boolean;
  ws: SignalSocket | null;
  everConnected: boolean;
  resume: { session_id: string; resume_key: string } | null;
  lastSeq: number;
  heartbeatMs: number;
  /** When the next heartbeat is due, on a live link. */
  nextHeartbeat: number;
  /** The one timer of the live link: the next heartbeat or the silence deadline. */
  heartbeatTimer: Timer | null;
  lastRx: number;
  retryStart: number;
  attempts: number;
  /** The room's node a server redirected to; connected to instead of the server URL until a connection to it fails. */
  target: string | null;
  /** Redirects followed since the last login_ok. */
  redirects: number;
  users: Map<string, UserInfo>;
  streams: Map<string, StreamInfo>;
  onlineCount: number;
  /** The stream published on each channel. */
  publishers: Record<PublishChannel, Publisher | null>;
  players: Map<string, Player>;
  requests: Map<number, Request>;
  timers: Timer[];
  tokenTimer: Timer | null;
}

/** The local media the engine publishes on a channel. */
export interface LocalMedia {
  audio: MediaStreamTrack | null;
  video: MediaStreamTrack | null;
}

/** A timer of the engine's shell. */
export type Timer = ReturnType<typeof setTimeout>;

/** What a signaling connection reports to the engine. */
export interface SocketEvents {
  /** A text frame arrived. */
  message(data: string): void;
  /** The connection failed or closed (not called after `close`). */
  closed(): void;
}

/** A signaling connection (the browser's WebSocket by default). */
export interface SignalSocket {
  /** Whether it is open: what is sent before is dropped. */
  readonly open: boolean;
  send(data: string): void;
  /** Closes it; no event is reported after. */
  close(): void;
}

/** One peer connection to the SFU (media.ts's `Leg` by default). */
export interface MediaLeg {
  /** The browser's peer connection (null without a browser: no stats, no page tools). */
  readonly pc: RTCPeerConnection | null;
  offerPublish(audio: MediaStreamTrack | null, video: MediaStreamTrack | null): Promise<string>;
  offerPlay(): Promise<string>;
  acceptAnswer(sdp: string): Promise<void>;
  addRemoteCandidate(c: IceCandidate): Promise<void>;
  replace(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void>;
  /** Sends only these simulcast layers (dynacast; the lowest always); before any call, all. */
  setActiveLayers(active: VideoLayer[]): void;
  close(): void;
}

/**
 * What the engine takes from its surroundings: the clock and timers, the
 * signaling connection and the media legs. The browser's by default
 * ({@link browserShell}); the node tests replay the native session's golden
 * transcripts through fakes (server/web/test/).
 */
export interface EngineShell {
  /** Unix milliseconds. */
  now(): number;
  setTimeout(f: () => void, ms: number): Timer;
  clearTimeout(t: Timer): void;
  setInterval(f: () => void, ms: number): Timer;
  clearInterval(t: Timer): void;
  openSocket(url: string, events: SocketEvents): SignalSocket;
  openLeg(role: MediaRole, streamId: string, iceServers: RTCIceServer[], events: LegEvents): MediaLeg;
  /** An empty stream a played stream's tracks are gathered in. */
  newStream(): MediaStream;
}

/** The browser's clock, timers, WebSocket and peer connections. */
export function browserShell(): EngineShell {
  return {
    now: () => Date.now(),
    setTimeout: (f, ms) => setTimeout(f, ms),
    clearTimeout: (t) => clearTimeout(t),
    setInterval: (f, ms) => setInterval(f, ms),
    clearInterval: (t) => clearInterval(t),
    openSocket: (url, events) => {
      const ws = new WebSocket(url);
      ws.onmessage = (e) => events.message(String(e.data));
      ws.onclose = () => events.closed();
      ws.onerror = () => {};
      return {
        get open() {
          return ws.readyState === WebSocket.OPEN;
        },
        send: (data) => ws.send(data),
        close: () => {
          ws.onmessage = null;
          ws.onclose = null;
          try {
            ws.close();
          } catch {
            // already closed
          }
        },
      };
    },
    openLeg: (role, streamId, iceServers, events) => new Leg(role, streamId, iceServers, events),
    newStream: () => new MediaStream(),
  };
}

export class WebEngine {
  /** Receives every event, in order. */
  onEvent: (e: SdkEvent) => void = () => {};
  /** A played stream's media arrived or changed (attach it to a <video>). */
  onRemoteMedia: (streamId: string, stream: MediaStream) => void = () => {};

  private room: Room | null = null;
  private pendingEvents: SdkEvent[] = [];
  private nextRequest = 0;
  private local: Record<PublishChannel, LocalMedia> = {
    Main: { audio: null, video: null },
    Aux: { audio: null, video: null },
  };
  /** The local mutes: the microphone's for every channel, the others per channel (as the native session's). */
  private mutes = {
    microphone: false,
    audio: { Main: false, Aux: false },
    video: { Main: false, Aux: false },
    cameraOff: { Main: false, Aux: false },
  };
  private qualityTimer: Timer | null = null;
  private samples = 0;
  /** The latest stats of each connected leg (sampled every second), by stream ID. */
  readonly lastQuality = new Map<string, { role: MediaRole; quality: Quality }>();
  private readonly retryWindowMs: number;

  constructor(
    private readonly options: EngineOptions,
    private readonly shell: EngineShell = browserShell(),
  ) {
    this.retryWindowMs = options.retryWindowMs ?? 20 * 60_000;
  }

  get roomId(): string | null {
    return this.room?.roomId ?? null;
  }

  get roomUsers(): UserInfo[] {
    return [...(this.room?.users.values() ?? [])];
  }

  get roomStreams(): StreamInfo[] {
    return [...(this.room?.streams.values() ?? [])];
  }

  /** The stream published on the main channel. */
  get publishing(): { streamId: string; state: PublisherState } | null {
    return this.publishingOn("Main");
  }

  /** The stream published on `channel`. */
  publishingOn(channel: PublishChannel): { streamId: string; state: PublisherState } | null {
    const p = this.room?.publishers[channel];
    return p ? { streamId: p.streamId, state: p.state } : null;
  }

  /** The simulcast layers the SFU last asked the main publisher for (null: none yet, all are sent). */
  get publishedLayers(): VideoLayer[] | null {
    return this.room?.publishers.Main?.layers ?? null;
  }

  playerState(streamId: string): PlayerState {
    return this.room?.players.get(streamId)?.state ?? "NoPlay";
  }

  /** The peer connection of a played stream, for the page's tools. */
  playerConnection(streamId: string): RTCPeerConnection | null {
    return this.room?.players.get(streamId)?.leg?.pc ?? null;
  }

  /** The peer connection publishing on `channel`, for the page's tools. */
  publisherConnection(channel: PublishChannel = "Main"): RTCPeerConnection | null {
    return this.room?.publishers[channel]?.leg?.pc ?? null;
  }

  // ------------------------------------------------------------------ calls

  loginRoom(roomId: string, user: UserInfo, config: RoomConfig): void {
    if (this.room) throw new SdkError(ErrorCode.AlreadyLoggedIn, "already logged in to a room; call logoutRoom first");
    if (!/^[A-Za-z0-9~!@#$%^&*()_+=\-`;',.<>/\\]{1,128}$/.test(roomId))
      throw new SdkError(ErrorCode.InvalidRoomId, "room ID must be 1-128 bytes of letters, digits and ~!@#$%^&*()_+=-`;',.<>/\\");
    if (!/^[A-Za-z0-9~!@#$%^&*()_+=\-`;',.<>/\\]{1,64}$/.test(user.user_id))
      throw new SdkError(ErrorCode.InvalidUserId, "user ID must be 1-64 bytes of letters, digits and ~!@#$%^&*()_+=-`;',.<>/\\");
    if (!config.token) throw new SdkError(ErrorCode.TokenMalformed, "a token is required to log in from a browser");
    const now = this.shell.now();
    this.room = {
      roomId,
      user,
      config,
      link: "connecting",
      resuming: false,
      ws: null,
      everConnected: false,
      resume: null,
      iceServers: [],
      lastSeq: 0,
      heartbeatMs: 5_000,
      nextHeartbeat: now,
      heartbeatTimer: null,
      lastRx: now,
      retryStart: now,
      attempts: 0,
      target: null,
      redirects: 0,
      users: new Map(),
      streams: new Map(),
      onlineCount: 0,
      publishers: { Main: null, Aux: null },
      players: new Map(),
      requests: new Map(),
      timers: [],
      tokenTimer: null,
    };
    this.state(roomId, "Connecting", "Logining", ErrorCode.Success, NO_DATA);
    this.closeWindowAt(this.room, now);
    this.connect(this.room);
    this.startQuality();
  }

  logoutRoom(): void {
    const room = this.room;
    if (!room) throw new SdkError(ErrorCode.NotLoggedIn, "not logged in to a room; call loginRoom first");
    if (room.link === "live") this.send(room, { type: "logout", request_id: this.newRequest() });
    this.end(room, ErrorCode.Success, "Logout", NO_DATA);
  }

  /** Replaces the login token; resolves when the server has taken it, rejects with its refusal. */
  renewToken(token: string): Promise<void> {
    const room = this.room;
    if (!room) return Promise.reject(new SdkError(ErrorCode.NotLoggedIn, "not logged in to a room; call loginRoom first"));
    room.config.token = token;
    return new Promise((resolve, reject) => {
      const id = this.newRequest();
      room.requests.set(id, { kind: "renew", resolve, reject });
      if (room.link === "live") this.send(room, { type: "renew_token", request_id: id, token });
      this.later(room, 10_000, () => {
        if (room.requests.delete(id)) reject(new SdkError(ErrorCode.RequestTimeout, "the server did not answer in time"));
      });
    });
  }

  sendBroadcastMessage(text: string): Promise<number> {
    const room = this.room;
    if (!room) return Promise.reject(new SdkError(ErrorCode.NotLoggedIn, "not logged in to a room"));
    if (!text) return Promise.reject(new SdkError(ErrorCode.BroadcastEmpty, "broadcast message is empty"));
    if (room.link !== "live") return Promise.reject(new SdkError(ErrorCode.NetworkInterrupted, "not connected"));
    return new Promise((resolve, reject) => {
      const id = this.newRequest();
      room.requests.set(id, { kind: "broadcast", resolve, reject });
      this.send(room, { type: "send_broadcast", request_id: id, text });
      this.later(room, 5_000, () => {
        if (room.requests.delete(id)) reject(new SdkError(ErrorCode.RequestTimeout, "the server did not answer in time"));
      });
    });
  }

  /**
   * Sets what publishing on `channel` sends (the preview's tracks on Main, a
   * shared screen on Aux); a live leg switches at once.
   */
  setLocalMedia(media: LocalMedia, channel: PublishChannel = "Main"): void {
    this.local[channel] = media;
    void this.applyLocalTracks(channel);
  }

  /** Publishes `streamId` on `channel` (Aux: a second stream of the user, e.g. a shared screen). */
  startPublishingStream(streamId: string, channel: PublishChannel = "Main"): void {
    const room = this.room;
    if (!room) throw new SdkError(ErrorCode.NotLoggedIn, "not logged in to a room; call loginRoom first");
    checkStreamId(streamId);
    if (room.publishers[channel]) throw new SdkError(ErrorCode.AlreadyPublishing, "this channel is already publishing a stream");
    if (CHANNELS.some((c) => room.publishers[c]?.streamId === streamId))
      throw new SdkError(ErrorCode.StreamIdInUse, "the other channel publishes this stream ID");
    const p: Publisher = {
      channel,
      streamId,
      state: "PublishRequesting",
      acked: false,
      request: null,
      leg: null,
      link: "idle",
      timer: null,
      told: this.sendState(channel),
      stats: null,
      layers: null,
    };
    room.publishers[channel] = p;
    this.publisherEvent(streamId, "PublishRequesting", ErrorCode.Success, NO_DATA);
    if (room.link === "live") this.announce(room, p);
  }

  /** Stops publishing on `channel`: players get stream Delete. */
  stopPublishingStream(channel: PublishChannel = "Main"): void {
    const room = this.room;
    if (!room) throw new SdkError(ErrorCode.NotLoggedIn, "not logged in to a room; call loginRoom first");
    const p = this.dropPublisher(room, channel, ErrorCode.Success, NO_DATA);
    if (!p) throw new SdkError(ErrorCode.NotPublishing, "this channel is not publishing");
    if (p.acked || p.request !== null) {
      const id = this.newRequest();
      room.requests.set(id, { kind: "stop", streamId: p.streamId });
      if (room.link === "live") this.send(room, { type: "stop_publishing", request_id: id, stream_id: p.streamId });
    }
  }

  startPlayingStream(streamId: string): void {
    const room = this.room;
    if (!room) throw new SdkError(ErrorCode.NotLoggedIn, "not logged in to a room; call loginRoom first");
    checkStreamId(streamId);
    if (room.players.has(streamId)) throw new SdkError(ErrorCode.AlreadyPlaying, "this stream is already being played");
    const player: Player = {
      streamId,
      state: "PlayRequesting",
      live: false,
      leg: null,
      link: "idle",
      timer: null,
      stream: this.shell.newStream(),
      stats: null,
      gotAudio: false,
      maxLayer: "high",
    };
    room.players.set(streamId, player);
    this.playerEvent(streamId, "PlayRequesting", ErrorCode.Success, NO_DATA);
    this.requestPlay(room, player);
  }

  stopPlayingStream(streamId: string): void {
    const room = this.room;
    if (!room) throw new SdkError(ErrorCode.NotLoggedIn, "not logged in to a room; call loginRoom first");
    const player = room.players.get(streamId);
    if (!player) throw new SdkError(ErrorCode.NotPlaying, "this stream is not being played");
    room.players.delete(streamId);
    for (const [id, r] of room.requests) if ((r.kind === "play" || r.kind === "layer") && r.streamId === streamId) room.requests.delete(id);
    this.closeMedia(player);
    this.playerEvent(streamId, "NoPlay", ErrorCode.Success, NO_DATA);
    const id = this.newRequest();
    room.requests.set(id, { kind: "stop_play", streamId });
    if (room.link === "live") this.send(room, { type: "stop_playing", request_id: id, stream_id: streamId });
  }

  /**
   * Caps the simulcast layer the SFU sends of a played stream (the grid asks
   * by tile size; `high` is no cap), as the SDK's
   * `set_play_stream_video_layer`: every `play_stream` carries it, so one not
   * yet sent on the live link takes the new cap; otherwise it goes out as
   * `play_video_layer` (now on a live link, else when the link is back).
   */
  setPlayStreamVideoLayer(streamId: string, layer: VideoLayer): void {
    const room = this.room;
    if (!room) throw new SdkError(ErrorCode.NotLoggedIn, "not logged in to a room; call loginRoom first");
    const player = room.players.get(streamId);
    if (!player) throw new SdkError(ErrorCode.NotPlaying, "this stream is not being played");
    if (player.maxLayer === layer) return;
    player.maxLayer = layer;
    const live = room.link === "live" ? room.ws : null;
    let playCarriesIt = false;
    for (const [id, r] of room.requests) {
      if (!("streamId" in r) || r.streamId !== streamId) continue;
      if (r.kind === "play") playCarriesIt = live === null || r.sentOn !== live;
      // Superseded.
      if (r.kind === "layer") room.requests.delete(id);
    }
    if (playCarriesIt) return;
    const id = this.newRequest();
    room.requests.set(id, { kind: "layer", streamId, maxLayer: layer });
    if (live) this.send(room, { type: "play_video_layer", request_id: id, stream_id: streamId, max_layer: layer });
  }

  /** The layer cap of a played stream (null: not played). */
  playLayer(streamId: string): VideoLayer | null {
    return this.room?.players.get(streamId)?.maxLayer ?? null;
  }

  muteMicrophone(on: boolean): void {
    this.mutes.microphone = on;
    this.mutesChanged();
  }

  mutePublishStreamAudio(on: boolean, channel: PublishChannel = "Main"): void {
    this.mutes.audio[channel] = on;
    this.mutesChanged();
  }

  mutePublishStreamVideo(on: boolean, channel: PublishChannel = "Main"): void {
    this.mutes.video[channel] = on;
    this.mutesChanged();
  }

  enableCamera(on: boolean, channel: PublishChannel = "Main"): void {
    this.mutes.cameraOff[channel] = !on;
    this.mutesChanged();
  }

  /** What the main channel's stream does not send. */
  get muteState(): { audio_muted: boolean; video_muted: boolean } {
    return this.sendState("Main");
  }

  /** Logs out if needed and releases everything. */
  destroy(): void {
    if (this.room) this.logoutRoom();
    if (this.qualityTimer) this.shell.clearInterval(this.qualityTimer);
    this.qualityTimer = null;
  }

  // -------------------------------------------------------------- signaling

  private newRequest(): number {
    this.nextRequest = (this.nextRequest + 1) >>> 0;
    return this.nextRequest;
  }

  private send(room: Room, msg: ClientMessage): void {
    if (room.ws?.open) room.ws.send(JSON.stringify(msg));
  }

  /**
   * Ends the room when the retry window that began at `start` closes with no
   * live link, even in the middle of an attempt: a timer, as the native
   * session's window deadline is, not a check at the next loss only.
   */
  private closeWindowAt(room: Room, start: number): void {
    this.later(room, Math.max(0, start + this.retryWindowMs - this.shell.now()), () => {
      if (room.retryStart === start && room.link !== "live") {
        this.end(room, ErrorCode.ReconnectTimeout, room.everConnected ? "ReconnectFailed" : "LoginFailed", NO_DATA);
      }
    });
  }

  private later(room: Room, ms: number, f: () => void): void {
    const t = this.shell.setTimeout(() => {
      if (this.room === room) f();
    }, ms);
    room.timers.push(t);
    if (room.timers.length > 256) room.timers.splice(0, 128);
  }

  private connect(room: Room): void {
    room.link = "connecting";
    room.lastRx = this.shell.now();
    let ws: SignalSocket | null = null;
    const current = () => this.room === room && ws !== null && room.ws === ws;
    const deadline = this.shell.setTimeout(() => {
      if (current() && room.link !== "live") this.lose(room, "handshake timed out");
    }, HANDSHAKE_TIMEOUT_MS);
    try {
      ws = this.shell.openSocket(room.target ?? this.options.server, {
        message: (data) => {
          if (!current()) return;
          room.lastRx = this.shell.now();
          let msg: ServerMessage;
          try {
            msg = JSON.parse(data) as ServerMessage;
          } catch {
            this.debug(ErrorCode.MalformedMessage, "on_message", "undecodable server message");
            return;
          }
          this.onMessage(room, msg);
          if (room.link === "live") this.shell.clearTimeout(deadline);
        },
        closed: () => {
          this.shell.clearTimeout(deadline);
          if (current()) this.lose(room, "connection closed");
        },
      });
    } catch (e) {
      this.shell.clearTimeout(deadline);
      this.lose(room, `cannot connect: ${String(e)}`);
      return;
    }
    room.ws = ws;
  }

  private closeSocket(room: Room): void {
    const ws = room.ws;
    room.ws = null;
    ws?.close();
  }

  /** The connection is gone: report the interruption if live, then retry. */
  private lose(room: Room, why: string): void {
    console.info(`confer: connection lost (${why})`);
    // A redirect target that failed before going live may be gone (a failover): start at the server URL again.
    if (room.link !== "live") {
      room.target = null;
      room.redirects = 0;
    }
    this.closeSocket(room);
    this.stopHeartbeats(room);
    const now = this.shell.now();
    if (room.link === "live") {
      this.state(room.roomId, "Connecting", "Reconnecting", ErrorCode.NetworkInterrupted, NO_DATA);
      for (const p of this.publishers(room)) {
        p.state = "PublishRequesting";
        this.publisherEvent(p.streamId, p.state, ErrorCode.NetworkInterrupted, NO_DATA);
      }
      for (const player of room.players.values()) {
        if (player.state === "Playing") {
          player.state = "PlayRequesting";
          this.playerEvent(player.streamId, player.state, ErrorCode.NetworkInterrupted, NO_DATA);
        }
      }
      room.retryStart = now;
      room.attempts = 0;
      this.closeWindowAt(room, now);
    }
    if (now - room.retryStart >= this.retryWindowMs) {
      this.end(room, ErrorCode.ReconnectTimeout, room.everConnected ? "ReconnectFailed" : "LoginFailed", NO_DATA);
      return;
    }
    room.link = "waiting";
    const delay = Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** Math.min(room.attempts, 16));
    room.attempts++;
    this.later(room, delay, () => {
      if (room.link === "waiting") this.connect(room);
    });
  }

  /**
   * The server no longer has this session (it expired, or a resume was
   * refused): forget the resume credentials and log in afresh. While live this
   * is a lost connection (reported, retried in the window); a refused resume
   * logs in at once on a new connection.
   */
  private sessionGone(room: Room, code: number): void {
    console.info(`confer: server session gone (${code}); logging in again`);
    room.resume = null;
    if (room.link === "authenticating" && room.resuming) {
      this.closeSocket(room);
      this.connect(room);
    } else {
      this.lose(room, "server session gone");
    }
  }

  /** The room's publishers, Main first. */
  private publishers(room: Room): Publisher[] {
    return CHANNELS.map((c) => room.publishers[c]).filter((p): p is Publisher => p !== null);
  }

  /** The publisher of `streamId`, on either channel. */
  private publisherOf(room: Room, streamId: string): Publisher | null {
    return this.publishers(room).find((p) => p.streamId === streamId) ?? null;
  }

  /**
   * Ends the publisher on `channel` for good, if there is one: NoPublish
   * with `code`, its media closed, its unanswered PublishStream forgotten.
   * Returns it.
   */
  private dropPublisher(room: Room, channel: PublishChannel, code: number, data: string): Publisher | null {
    const p = room.publishers[channel];
    if (!p) return null;
    room.publishers[channel] = null;
    if (p.request !== null) room.requests.delete(p.request);
    this.closeMedia(p);
    this.publisherEvent(p.streamId, "NoPublish", code, data);
    return p;
  }

  /** The link is live (again): a heartbeat every interval from now, and a watch on the server's silence. */
  private startHeartbeats(room: Room): void {
    room.nextHeartbeat = this.shell.now() + room.heartbeatMs;
    this.armHeartbeat(room);
  }

  /** When the server counts as silent if nothing more arrives (as the native session). */
  private silenceDeadline(room: Room): number {
    return room.lastRx + room.heartbeatMs * 2 + SILENCE_GRACE_MS;
  }

  /** Runs `heartbeat` at the earlier of the next heartbeat and the silence deadline. */
  private armHeartbeat(room: Room): void {
    this.stopHeartbeats(room);
    const at = Math.min(room.nextHeartbeat, this.silenceDeadline(room));
    room.heartbeatTimer = this.shell.setTimeout(
      () => {
        room.heartbeatTimer = null;
        if (this.room === room) this.heartbeat(room);
      },
      Math.max(0, at - this.shell.now()),
    );
  }

  private stopHeartbeats(room: Room): void {
    if (room.heartbeatTimer !== null) this.shell.clearTimeout(room.heartbeatTimer);
    room.heartbeatTimer = null;
  }

  /** On a live link: gives up on a silent server, or sends the heartbeat that is due. */
  private heartbeat(room: Room): void {
    if (room.link !== "live") return;
    const now = this.shell.now();
    if (now >= this.silenceDeadline(room)) {
      this.lose(room, "server silent");
      return;
    }
    if (now >= room.nextHeartbeat) {
      this.send(room, { type: "heartbeat", ack: room.lastSeq });
      room.nextHeartbeat = now + room.heartbeatMs;
    }
    this.armHeartbeat(room);
  }

  private onMessage(room: Room, msg: ServerMessage): void {
    switch (msg.type) {
      case "challenge": {
        if (room.link !== "connecting") return this.debug(ErrorCode.WrongState, "on_challenge", "unexpected challenge");
        if (room.resume) {
          this.send(room, {
            type: "resume",
            version: PROTOCOL_VERSION,
            session_id: room.resume.session_id,
            resume_key: room.resume.resume_key,
            last_seq: room.lastSeq,
          });
        } else {
          this.send(room, {
            type: "login",
            version: PROTOCOL_VERSION,
            app_id: this.options.appId,
            room_id: room.roomId,
            user: room.user,
            credentials: { kind: "token", token: room.config.token },
            notify_users: room.config.isUserStatusNotify,
            max_member_count: 0,
          });
        }
        room.resuming = room.resume !== null;
        room.link = "authenticating";
        return;
      }
      case "login_ok":
        if (room.link === "authenticating" && !room.resuming) this.onLoginOk(room, msg);
        else this.debug(ErrorCode.WrongState, "on_login_ok", "unexpected login_ok");
        return;
      case "login_failed":
        if (room.link === "authenticating" && !room.resuming) {
          this.end(room, msg.code, room.everConnected ? "ReconnectFailed" : "LoginFailed", details(msg.message));
        } else this.debug(msg.code, "on_login_failed", msg.message);
        return;
      case "redirect":
        if (room.link === "authenticating" && !room.resuming) this.onRedirect(room, msg.url);
        else this.debug(ErrorCode.WrongState, "on_redirect", "unexpected redirect");
        return;
      case "resumed":
        if (room.link === "authenticating" && room.resuming) this.onResumed(room, msg.missed);
        else this.debug(ErrorCode.WrongState, "on_resumed", "unexpected resumed");
        return;
      case "resume_failed":
        if (!(room.link === "authenticating" && room.resuming)) {
          this.debug(msg.code, "on_resume_failed", msg.message);
        } else if (msg.code === ErrorCode.KickedOut) {
          this.end(room, msg.code, "KickOut", details(msg.message));
        } else {
          this.sessionGone(room, msg.code);
        }
        return;
      case "event":
        if (room.link === "live") this.applyEvent(room, msg);
        return;
      case "heartbeat_ack":
        return;
      case "ack":
        return this.onAck(room, msg.request_id, msg.body);
      case "error":
        if (msg.request_id !== null && msg.request_id !== undefined) {
          this.onRequestError(room, msg.request_id, msg.code, msg.message);
        } else {
          this.debug(msg.code, "server", msg.message);
        }
        return;
      case "session_expired":
        return this.sessionGone(room, msg.code);
      case "kicked":
        // Older servers report an expired session as a kick: it is not one.
        if (msg.code === ErrorCode.SessionExpired) return this.sessionGone(room, msg.code);
        this.end(room, msg.code, "KickOut", details(msg.message));
        return;
      case "shutdown":
        this.debug(msg.code, "server", msg.message);
        this.lose(room, "server shutting down");
        return;
      case "sdp_answer": {
        const req = room.requests.get(msg.request_id);
        if (req?.kind !== "offer") return;
        room.requests.delete(msg.request_id);
        // Only for the connection that made the offer (a newer one may have replaced it).
        const leg = req.leg;
        if (this.legOf(room, msg.stream_id, msg.role) !== leg) return;
        leg.acceptAnswer(msg.sdp).catch((e: unknown) => {
          if (this.room === room && this.legOf(room, msg.stream_id, msg.role) === leg)
            this.mediaFailed(room, msg.stream_id, msg.role, failCode(msg.role), `answer refused: ${String(e)}`);
        });
        return;
      }
      case "trickle_ice":
        void this.legOf(room, msg.stream_id, msg.role)?.addRemoteCandidate(msg.candidate);
        return;
      case "stream_ready":
        return this.onStreamReady(room, msg.stream_id);
      case "stream_ended":
        return this.onStreamEnded(room, msg.stream_id);
      case "video_layers": {
        const p = this.publisherOf(room, msg.stream_id);
        if (!p) return;
        p.layers = msg.active;
        p.leg?.setActiveLayers(msg.active);
        return;
      }
    }
  }

  /**
   * The room lives on another node (several nodes on one Redis): log in
   * there with the same token, unseen by the app. Same scheme only, at most
   * MAX_REDIRECTS between two logins (the native session's redirect.rs).
   */
  private onRedirect(room: Room, url: string): void {
    const reason = room.everConnected ? "ReconnectFailed" : "LoginFailed";
    if (!redirectAcceptable(this.options.server, url)) {
      this.end(room, ErrorCode.RedirectRefused, reason, details(url.slice(0, 128)));
      return;
    }
    room.redirects++;
    if (room.redirects > MAX_REDIRECTS) {
      this.end(room, ErrorCode.TooManyRedirects, reason, details(url));
      return;
    }
    console.info(`confer: login redirected to ${url}`);
    this.closeSocket(room);
    room.target = url;
    this.connect(room);
  }

  private onLoginOk(room: Room, ok: LoginOk): void {
    const relogin = room.everConnected;
    room.redirects = 0;
    room.resume = { session_id: ok.session_id, resume_key: ok.resume_key };
    room.iceServers = toIceServers(ok.ice_servers ?? []);
    room.lastSeq = ok.seq;
    room.heartbeatMs = ok.heartbeat_interval_ms > 0 ? Math.max(100, ok.heartbeat_interval_ms) : 5_000;
    room.link = "live";
    room.everConnected = true;
    room.attempts = 0;
    this.state(room.roomId, "Connected", relogin ? "Reconnected" : "Logined", ErrorCode.Success, NO_DATA);
    this.startHeartbeats(room);

    const notify = room.config.isUserStatusNotify;
    const users = new Map(ok.users.map((u) => [u.user_id, u] as const));
    const streams = new Map(ok.streams.map((s) => [s.stream_id, s] as const));
    if (relogin) {
      const usersGone = [...room.users.values()].filter((u) => !users.has(u.user_id));
      const usersNew = [...users.values()].filter((u) => !room.users.has(u.user_id));
      if (notify) {
        this.users(room, "Delete", usersGone);
        this.users(room, "Add", usersNew);
        if (ok.online_count !== room.onlineCount)
          this.emit("onRoomOnlineUserCountUpdate", { room_id: room.roomId, count: ok.online_count });
      }
      const gone = [...room.streams.values()].filter((s) => !streams.has(s.stream_id));
      const added = [...streams.values()].filter((s) => !room.streams.has(s.stream_id));
      this.streams(room, "Delete", gone);
      this.streams(room, "Add", added);
      for (const s of streams.values()) {
        const old = added.includes(s) ? null : (room.streams.get(s.stream_id) ?? null);
        this.devices(s, old);
      }
    } else {
      if (notify) {
        this.users(room, "Add", [...users.values()]);
        this.emit("onRoomOnlineUserCountUpdate", { room_id: room.roomId, count: ok.online_count });
      }
      this.streams(room, "Add", [...streams.values()]);
      for (const s of streams.values()) this.devices(s, null);
    }
    room.users = users;
    room.streams = streams;
    room.onlineCount = ok.online_count;
    this.setTokenExpiry(room, ok.token_expires_in_ms);

    // A new server session: claim the stream again and ask to play again.
    for (const [id, r] of room.requests) if (r.kind !== "broadcast") room.requests.delete(id);
    for (const p of this.publishers(room)) {
      p.acked = false;
      p.request = null;
      this.closeMedia(p);
      this.announce(room, p);
    }
    for (const player of room.players.values()) {
      this.closeMedia(player);
      player.live = false;
      this.requestPlay(room, player);
    }
  }

  private onResumed(room: Room, missed: SequencedEvent[]): void {
    room.link = "live";
    room.attempts = 0;
    this.state(room.roomId, "Connected", "Reconnected", ErrorCode.Success, NO_DATA);
    this.startHeartbeats(room);
    for (const se of missed) this.applyEvent(room, se);
    const stateUnanswered = new Set<PublishChannel>();
    for (const [id, r] of room.requests) {
      if (r.kind === "offer") room.requests.delete(id);
      if (r.kind === "stream_state") {
        stateUnanswered.add(r.channel);
        room.requests.delete(id);
      }
    }
    for (const p of this.publishers(room)) {
      if (!p.acked) {
        if (p.request !== null) room.requests.delete(p.request);
        this.announce(room, p);
      } else if (p.link === "connected") {
        p.state = "Publishing";
        this.publisherEvent(p.streamId, p.state, ErrorCode.Success, NO_DATA);
      } else {
        this.negotiate(room, p.streamId, "publish");
      }
    }
    for (const player of room.players.values()) {
      if (player.link === "connected") {
        player.state = "Playing";
        this.playerEvent(player.streamId, player.state, ErrorCode.Success, NO_DATA);
      } else if (player.link === "negotiating" && player.live) {
        this.negotiate(room, player.streamId, "play");
      }
    }
    // Requests that were not answered on the old connection go out again.
    for (const [id, r] of room.requests) {
      if (r.kind === "stop") this.send(room, { type: "stop_publishing", request_id: id, stream_id: r.streamId });
      if (r.kind === "play") this.sendPlay(room, id, r);
      if (r.kind === "layer")
        this.send(room, { type: "play_video_layer", request_id: id, stream_id: r.streamId, max_layer: r.maxLayer });
      if (r.kind === "stop_play") this.send(room, { type: "stop_playing", request_id: id, stream_id: r.streamId });
      if (r.kind === "renew") this.send(room, { type: "renew_token", request_id: id, token: room.config.token });
    }
    for (const channel of CHANNELS) if (stateUnanswered.has(channel)) this.sendStreamState(room, channel);
    this.syncSendState(room);
  }

  private applyEvent(room: Room, se: SequencedEvent): void {
    if (se.seq <= room.lastSeq) return;
    room.lastSeq = se.seq;
    const e: RoomEvent = se.event;
    switch (e.kind) {
      case "user_update": {
        const type = e.update_type === "add" ? "Add" : "Delete";
        for (const u of e.users) {
          if (type === "Add") room.users.set(u.user_id, u);
          else room.users.delete(u.user_id);
        }
        this.users(room, type, e.users);
        return;
      }
      case "online_user_count":
        room.onlineCount = e.count;
        this.emit("onRoomOnlineUserCountUpdate", { room_id: room.roomId, count: e.count });
        return;
      case "stream_update": {
        const type = e.update_type === "add" ? "Add" : "Delete";
        const known = new Map(room.streams);
        for (const s of e.streams) {
          if (type === "Add") room.streams.set(s.stream_id, s);
          else room.streams.delete(s.stream_id);
        }
        this.streams(room, type, e.streams);
        if (type === "Add") for (const s of e.streams) if (!known.has(s.stream_id)) this.devices(s, null);
        return;
      }
      case "stream_state_update": {
        const old = room.streams.get(e.stream_id);
        if (!old) return;
        const now = { ...old, audio_muted: e.audio_muted, video_muted: e.video_muted };
        room.streams.set(e.stream_id, now);
        this.devices(now, old);
        return;
      }
      case "broadcast":
        this.emit("onIMRecvBroadcastMessage", {
          room_id: room.roomId,
          messages: [
            {
              message_id: e.message.message_id,
              from_user: e.message.from_user,
              text: e.message.text,
              send_time_ms: e.message.send_time_ms,
            },
          ],
        });
        return;
    }
  }

  private onAck(room: Room, requestId: number, body: AckBody): void {
    const req = room.requests.get(requestId);
    if (!req) return;
    room.requests.delete(requestId);
    if (req.kind === "publish" && body.kind === "stream_published") {
      const p = room.publishers[req.channel];
      if (p && p.request === requestId) {
        p.request = null;
        p.acked = true;
        this.negotiate(room, p.streamId, "publish");
        this.syncSendState(room);
      }
    } else if (req.kind === "broadcast" && body.kind === "broadcast_sent") {
      req.resolve(body.message_id);
    } else if (req.kind === "renew" && body.kind === "token_renewed") {
      this.setTokenExpiry(room, body.expires_in_ms);
      // Fresh TURN credentials for the legs opened from now on.
      if (body.ice_servers?.length) room.iceServers = toIceServers(body.ice_servers);
      // The server already withdrew the stream: stop it for good.
      if (body.publish === false)
        for (const channel of CHANNELS) this.dropPublisher(room, channel, ErrorCode.TokenNoPublishPrivilege, NO_DATA);
      req.resolve();
    }
  }

  private onRequestError(room: Room, requestId: number, code: number, message: string): void {
    const req = room.requests.get(requestId);
    if (!req) return this.debug(code, "server", message);
    room.requests.delete(requestId);
    switch (req.kind) {
      case "publish":
        // Refused for good: nothing re-announces it after a reconnect.
        if (room.publishers[req.channel]?.request === requestId) this.dropPublisher(room, req.channel, code, details(message));
        return;
      case "broadcast":
        req.reject(new SdkError(code, message));
        return;
      case "renew":
        this.debug(code, "renew_token", message);
        req.reject(new SdkError(code, message));
        return;
      case "stop":
        return this.debug(code, "stop_publishing_stream", message);
      case "stream_state":
        return this.debug(code, "stream_state", message);
      case "stop_play":
        return this.debug(code, "stop_playing_stream", message);
      case "layer":
        return this.debug(code, "set_play_stream_video_layer", message);
      case "play": {
        const player = room.players.get(req.streamId);
        if (player) {
          room.players.delete(req.streamId);
          this.closeMedia(player);
          this.playerEvent(req.streamId, "NoPlay", code, details(message));
        }
        return;
      }
      case "offer":
        return this.mediaFailed(room, req.streamId, req.role, code, message);
    }
  }

  /** Sends `PublishStream` for a publisher. */
  private announce(room: Room, p: Publisher): void {
    const id = this.newRequest();
    p.request = id;
    p.told = this.sendState(p.channel);
    // A new claim: every layer until the SFU says otherwise.
    p.layers = null;
    room.requests.set(id, { kind: "publish", channel: p.channel });
    this.send(room, {
      type: "publish_stream",
      request_id: id,
      stream_id: p.streamId,
      extra_info: "",
      audio_muted: p.told.audio_muted,
      video_muted: p.told.video_muted,
    });
  }

  private requestPlay(room: Room, player: Player): void {
    const id = this.newRequest();
    const req: Request & { kind: "play" } = { kind: "play", streamId: player.streamId, sentOn: null };
    room.requests.set(id, req);
    if (room.link === "live") this.sendPlay(room, id, req);
  }

  /** `play_stream` with the player's layer cap (left out when there is none, as the SDK does). */
  private sendPlay(room: Room, requestId: number, req: Request & { kind: "play" }): void {
    const layer = room.players.get(req.streamId)?.maxLayer ?? "high";
    const cap = layer === "high" ? {} : { max_layer: layer };
    this.send(room, { type: "play_stream", request_id: requestId, stream_id: req.streamId, ...cap });
    req.sentOn = room.ws;
  }

  private onStreamReady(room: Room, streamId: string): void {
    const player = room.players.get(streamId);
    if (!player) return;
    player.live = true;
    if (player.link !== "connected") this.negotiate(room, streamId, "play");
  }

  private onStreamEnded(room: Room, streamId: string): void {
    const player = room.players.get(streamId);
    if (!player) return;
    player.live = false;
    if (player.link !== "idle") this.closeMedia(player);
    player.state = "PlayRequesting";
    this.playerEvent(streamId, player.state, ErrorCode.StreamEnded, NO_DATA);
  }

  private end(room: Room, code: number, reason: RoomStateChangedReason, data: string): void {
    this.closeSocket(room);
    for (const channel of CHANNELS) this.dropPublisher(room, channel, code, NO_DATA);
    for (const player of room.players.values()) {
      this.closeMedia(player);
      this.playerEvent(player.streamId, "NoPlay", code, NO_DATA);
    }
    room.players.clear();
    for (const r of room.requests.values()) {
      if (r.kind === "broadcast" || r.kind === "renew") r.reject(new SdkError(ErrorCode.LoggedOut, "logged out before the request completed"));
    }
    room.requests.clear();
    for (const t of room.timers) this.shell.clearTimeout(t);
    this.stopHeartbeats(room);
    if (room.tokenTimer) this.shell.clearTimeout(room.tokenTimer);
    this.room = null;
    this.state(room.roomId, "Disconnected", reason, code, data);
  }

  private setTokenExpiry(room: Room, expiresInMs: number | null): void {
    if (room.tokenTimer) this.shell.clearTimeout(room.tokenTimer);
    room.tokenTimer = null;
    if (expiresInMs === null || expiresInMs === undefined) return;
    const expiresAt = this.shell.now() + expiresInMs;
    const warn = () => {
      if (this.room !== room) return;
      this.emit("onRoomTokenWillExpire", {
        room_id: room.roomId,
        remain_time_in_second: Math.round(Math.max(0, expiresAt - this.shell.now()) / 1000),
      });
    };
    if (expiresInMs <= TOKEN_WARNING_MS) warn();
    else room.tokenTimer = this.shell.setTimeout(warn, expiresInMs - TOKEN_WARNING_MS);
  }

  // ------------------------------------------------------------------ media

  private legOf(room: Room, streamId: string, role: MediaRole): MediaLeg | null {
    if (role === "publish") return this.publisherOf(room, streamId)?.leg ?? null;
    return room.players.get(streamId)?.leg ?? null;
  }

  /** What `channel`'s stream does not send (muted, or nothing to send). */
  private sendState(channel: PublishChannel): { audio_muted: boolean; video_muted: boolean } {
    const local = this.local[channel];
    return {
      audio_muted: this.mutes.microphone || this.mutes.audio[channel] || local.audio === null,
      video_muted: this.mutes.cameraOff[channel] || this.mutes.video[channel] || local.video === null,
    };
  }

  private mutesChanged(): void {
    for (const channel of CHANNELS) void this.applyLocalTracks(channel);
    if (this.room) this.syncSendState(this.room);
  }

  private async applyLocalTracks(channel: PublishChannel): Promise<void> {
    const leg = this.room?.publishers[channel]?.leg;
    if (!leg) return;
    const s = this.sendState(channel);
    await leg.replace("audio", s.audio_muted ? null : this.local[channel].audio);
    await leg.replace("video", s.video_muted ? null : this.local[channel].video);
  }

  /** Tells the server what each confirmed stream sends now, where that changed. */
  private syncSendState(room: Room): void {
    for (const p of this.publishers(room)) {
      if (!p.acked) continue;
      const now = this.sendState(p.channel);
      if (now.audio_muted !== p.told.audio_muted || now.video_muted !== p.told.video_muted)
        this.sendStreamState(room, p.channel);
    }
  }

  private sendStreamState(room: Room, channel: PublishChannel): void {
    const p = room.publishers[channel];
    if (room.link !== "live" || !p || !p.acked) return;
    p.told = this.sendState(channel);
    const id = this.newRequest();
    room.requests.set(id, { kind: "stream_state", channel });
    this.send(room, { type: "stream_state", request_id: id, stream_id: p.streamId, ...p.told });
  }

  /** Opens a (new) peer connection for a stream and sends its offer. */
  private negotiate(room: Room, streamId: string, role: MediaRole): void {
    const target = role === "publish" ? this.publisherOf(room, streamId) : room.players.get(streamId);
    if (!target) return;
    target.leg?.close();
    if (target.timer) this.shell.clearTimeout(target.timer);
    const leg = this.shell.openLeg(role, streamId, room.iceServers, {
      candidate: (c: IceCandidate) => {
        if (this.room === room && this.legOf(room, streamId, role) === leg)
          this.send(room, { type: "trickle_ice", stream_id: streamId, role, candidate: c });
      },
      connected: () => {
        if (this.room === room && this.legOf(room, streamId, role) === leg) this.mediaConnected(room, streamId, role);
      },
      failed: (why) => {
        if (this.room === room && this.legOf(room, streamId, role) === leg)
          this.mediaFailed(room, streamId, role, failCode(role), why);
      },
      track: (track) => {
        const player = room.players.get(streamId);
        if (!player || player.leg !== leg) return;
        for (const old of player.stream.getTracks()) if (old.kind === track.kind) player.stream.removeTrack(old);
        player.stream.addTrack(track);
        this.onRemoteMedia(streamId, player.stream);
      },
    });
    if ("layers" in target && target.layers) leg.setActiveLayers(target.layers);
    target.leg = leg;
    target.link = "negotiating";
    target.stats = leg.pc ? new StatsSampler(leg.pc, role === "publish" ? "outbound" : "inbound") : null;
    target.timer = this.shell.setTimeout(() => {
      if (this.room === room && target.leg === leg && target.link === "negotiating")
        this.mediaFailed(room, streamId, role, failCode(role), "negotiation timed out");
    }, NEGOTIATION_TIMEOUT_MS);
    const offer =
      "channel" in target ? this.offerPublish(leg, target.channel) : leg.offerPlay();
    offer.then(
      (sdp) => {
        if (this.room !== room || target.leg !== leg || room.link !== "live") return;
        const id = this.newRequest();
        room.requests.set(id, { kind: "offer", streamId, role, leg });
        this.send(room, { type: "sdp_offer", request_id: id, stream_id: streamId, role, sdp });
      },
      (e: unknown) => {
        if (this.room === room && target.leg === leg)
          this.mediaFailed(room, streamId, role, failCode(role), `offer failed: ${String(e)}`);
      },
    );
  }

  /** A publishing leg's offer with what `channel` sends now. */
  private offerPublish(leg: MediaLeg, channel: PublishChannel): Promise<string> {
    const s = this.sendState(channel);
    const local = this.local[channel];
    return leg.offerPublish(s.audio_muted ? null : local.audio, s.video_muted ? null : local.video);
  }

  private mediaConnected(room: Room, streamId: string, role: MediaRole): void {
    const live = room.link === "live";
    if (role === "publish") {
      const p = this.publisherOf(room, streamId);
      if (!p) return;
      p.link = "connected";
      if (p.timer) this.shell.clearTimeout(p.timer);
      if (p.acked && live && p.state !== "Publishing") {
        p.state = "Publishing";
        this.publisherEvent(streamId, p.state, ErrorCode.Success, NO_DATA);
      }
    } else {
      const player = room.players.get(streamId);
      if (!player) return;
      player.link = "connected";
      if (player.timer) this.shell.clearTimeout(player.timer);
      if (live && player.state !== "Playing") {
        player.state = "Playing";
        this.playerEvent(streamId, player.state, ErrorCode.Success, NO_DATA);
      }
    }
  }

  /** A peer connection failed (or its offer was refused): report, retry in a second. */
  private mediaFailed(room: Room, streamId: string, role: MediaRole, code: number, why: string): void {
    if (role === "publish") {
      const p = this.publisherOf(room, streamId);
      if (!p) return;
      this.closeMedia(p);
      p.link = "retry";
      p.state = "PublishRequesting";
      this.publisherEvent(streamId, p.state, code, details(why));
      p.timer = this.shell.setTimeout(() => {
        if (this.room === room && room.publishers[p.channel] === p && p.link === "retry" && room.link === "live")
          this.negotiate(room, streamId, "publish");
      }, MEDIA_RETRY_MS);
    } else {
      const player = room.players.get(streamId);
      if (!player) return;
      this.closeMedia(player);
      const retry = player.live && code !== ErrorCode.StreamNotLive;
      player.link = retry ? "retry" : "idle";
      player.state = "PlayRequesting";
      this.playerEvent(streamId, player.state, code, details(why));
      if (retry) {
        player.timer = this.shell.setTimeout(() => {
          if (this.room === room && room.players.get(streamId) === player && player.link === "retry")
            this.negotiate(room, streamId, "play");
        }, MEDIA_RETRY_MS);
      }
    }
  }

  /** Closes a publisher's or player's media leg and cancels its retry. */
  private closeMedia(m: Publisher | Player): void {
    if (m.timer) this.shell.clearTimeout(m.timer);
    m.timer = null;
    m.leg?.close();
    m.leg = null;
    m.link = "idle";
    m.stats = null;
  }

  /** Stats every second; quality events every 3 s for each connected leg. */
  private startQuality(): void {
    if (this.qualityTimer) return;
    this.qualityTimer = this.shell.setInterval(() => {
      this.samples++;
      const emit = this.samples % (QUALITY_INTERVAL_MS / STATS_INTERVAL_MS) === 0;
      this.sampleQuality(emit).then(
        (q) => {
          this.lastQuality.clear();
          for (const [k, v] of q) this.lastQuality.set(k, v);
        },
        () => {},
      );
    }, STATS_INTERVAL_MS);
  }

  /** Samples every connected leg, by stream ID and role. */
  private async sampleQuality(emit: boolean): Promise<Map<string, { role: MediaRole; quality: Quality }>> {
    const out = new Map<string, { role: MediaRole; quality: Quality }>();
    const room = this.room;
    if (!room) return out;
    for (const p of this.publishers(room)) {
      if (!p.stats || p.link !== "connected") continue;
      const quality = await p.stats.sample();
      out.set(p.streamId, { role: "publish", quality });
      if (emit) this.emit("onPublisherQualityUpdate", { stream_id: p.streamId, quality });
    }
    for (const player of room.players.values()) {
      if (player.stats && player.link === "connected") {
        const quality = await player.stats.sample();
        out.set(player.streamId, { role: "play", quality });
        if (emit) this.emit("onPlayerQualityUpdate", { stream_id: player.streamId, quality });
      }
    }
    return out;
  }

  // ----------------------------------------------------------------- events

  /**
   * Emits an event (also used by the page for media milestones). Events are
   * delivered in order once the current step is done, as on the native
   * SDK's event channel: a call made from a callback never runs inside the
   * engine's own handling of a message.
   */
  emit(name: string, data: Record<string, unknown>): void {
    this.pendingEvents.push({ name, data, at: this.shell.now() });
    if (this.pendingEvents.length === 1) queueMicrotask(() => this.flushEvents());
  }

  private flushEvents(): void {
    // Bounded: each pass delivers what was queued before it started.
    for (let pass = 0; pass < 1000 && this.pendingEvents.length > 0; pass++) {
      const batch = this.pendingEvents;
      this.pendingEvents = [];
      for (const e of batch) {
        try {
          this.onEvent(e);
        } catch (err) {
          console.error(`confer: ${e.name} handler failed`, err);
        }
      }
    }
  }

  private state(roomId: string, state: RoomState, reason: RoomStateChangedReason, code: number, data: string): void {
    this.emit("onRoomStateUpdate", { room_id: roomId, state, error_code: code, extended_data: data });
    this.emit("onRoomStateChanged", { room_id: roomId, reason, error_code: code, extended_data: data });
  }

  private publisherEvent(streamId: string, state: PublisherState, code: number, data: string): void {
    this.emit("onPublisherStateUpdate", { stream_id: streamId, state, error_code: code, extended_data: data });
  }

  private playerEvent(streamId: string, state: PlayerState, code: number, data: string): void {
    this.emit("onPlayerStateUpdate", { stream_id: streamId, state, error_code: code, extended_data: data });
  }

  private users(room: Room, type: "Add" | "Delete", users: UserInfo[]): void {
    if (users.length > 0) this.emit("onRoomUserUpdate", { room_id: room.roomId, update_type: type, users });
  }

  private streams(room: Room, type: "Add" | "Delete", streams: StreamInfo[]): void {
    if (streams.length === 0) return;
    this.emit("onRoomStreamUpdate", {
      room_id: room.roomId,
      update_type: type,
      streams: streams.map((s): Stream => ({ stream_id: s.stream_id, user: s.user, extra_info: s.extra_info ?? "" })),
      extended_data: NO_DATA,
    });
  }

  /** onRemoteMicStateUpdate / onRemoteCameraStateUpdate for what changed from `old`. */
  private devices(s: StreamInfo, old: StreamInfo | null): void {
    const mic = s.audio_muted ? "Mute" : "Open";
    const cam = s.video_muted ? "Mute" : "Open";
    if (!old || !!old.audio_muted !== !!s.audio_muted)
      this.emit("onRemoteMicStateUpdate", { stream_id: s.stream_id, state: mic });
    if (!old || !!old.video_muted !== !!s.video_muted)
      this.emit("onRemoteCameraStateUpdate", { stream_id: s.stream_id, state: cam });
  }

  private debug(code: number, funcName: string, info: string): void {
    this.emit("onDebugError", { error_code: code, func_name: funcName, info });
  }
}

function checkStreamId(streamId: string): void {
  if (!/^[A-Za-z0-9_.-]{1,256}$/.test(streamId))
    throw new SdkError(ErrorCode.InvalidStreamId, "stream ID must be 1-256 bytes of A-Z a-z 0-9 _ - .");
}

function failCode(role: MediaRole): number {
  return role === "publish" ? ErrorCode.PublishTransportFailed : ErrorCode.PlayTransportFailed;
}

function details(message: string): string {
  return JSON.stringify({ message });
}

/** The server's ICE servers as `RTCPeerConnection` takes them. */
function toIceServers(servers: IceServer[]): RTCIceServer[] {
  return servers.map((s) => ({
    urls: s.urls,
    ...(s.username ? { username: s.username, credential: s.credential } : {}),
  }));
}

/** Redirects followed at most between two logins. */
const MAX_REDIRECTS = 3;

/** Whether a redirect to `url` may be followed from `home`: the same scheme, a host, a sane size. */
export function redirectAcceptable(home: string, url: string): boolean {
  const scheme = home.startsWith("wss://") ? "wss://" : home.startsWith("ws://") ? "ws://" : null;
  if (!scheme || !url.startsWith(scheme) || url.length > 1024) return false;
  if (/\s/.test(url) || [...url].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return false;
  const rest = url.slice(scheme.length);
  return rest.length > 0 && !rest.startsWith("/");
}
