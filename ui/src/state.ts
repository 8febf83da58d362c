// The call's state as a pure reducer over SDK events plus a few app actions,
// and a tiny store. No DOM, no Tauri: tested under node.

import type {
  CommandError,
  PlayerState,
  PlayStreamQuality,
  PublisherState,
  PublishStreamQuality,
  RemoteDeviceState,
  RoomState,
  RoomStateChangedReason,
  SdkEvent,
  AppEvent,
  User,
  VideoLayer,
} from "./types.js";
import type { ShareSource } from "./generated/app.js";
import { describeError } from "./errors.js";
import { isShareStream } from "./names.js";
import { ErrorCode } from "./generated/error-codes.js";

export type Phase = "idle" | "joining" | "in-call" | "failed";
export type Panel = "chat" | "people" | "info";

export interface RemoteStream {
  stream_id: string;
  user: User;
  extra_info: string;
  player: PlayerState;
  player_error: number;
  /** It reached Playing once: a later PlayRequesting is a reconnect. */
  ever_played: boolean;
  first_frame: boolean;
  quality: PlayStreamQuality | null;
  /** The highest simulcast layer asked for (by the tile's size); null before the first ask took. */
  layer: VideoLayer | null;
  /** null until the first RemoteMic/CameraStateUpdate (treated as on). */
  mic: RemoteDeviceState | null;
  camera: RemoteDeviceState | null;
  seq: number;
}

export interface Participant {
  user_id: string;
  user_name: string;
  seq: number;
}

export type ChatStatus = "received" | "sending" | "sent" | "failed";

export interface ChatMessage {
  /** Stable key: "m:<user>:<id>" for received, the local key for own. */
  key: string;
  message_id: number | null;
  from: User;
  text: string;
  time_ms: number;
  own: boolean;
  status: ChatStatus;
  error: CommandError | null;
}

export type NoticeKind = "error" | "warning" | "info";

export interface Notice {
  id: number;
  kind: NoticeKind;
  title: string;
  detail: string;
  code: number | null;
}

export interface CallState {
  phase: Phase;
  room_id: string;
  self: User | null;
  room: {
    state: RoomState;
    reason: RoomStateChangedReason | null;
    error_code: number;
    was_connected: boolean;
    /** Between the first Connected and the first online count: the initial user list (no join toasts). */
    snapshot_open: boolean;
  };
  users: Record<string, Participant>;
  streams: Record<string, RemoteStream>;
  publisher: {
    stream_id: string | null;
    state: PublisherState;
    error_code: number;
    quality: PublishStreamQuality | null;
    first_frame: boolean;
  };
  local: { mic: boolean; camera: boolean };
  /** Our own screen share while it runs (share.ts): the presenter layout's stage and the sharing bar. */
  share: LocalShare | null;
  /**
   * Who speaks now (the ring, the people list). Set by `app/speaking` from
   * speaking.ts's tracker, which turns the 10-a-second level events into
   * changes; the level events themselves leave the state alone, so the
   * screens do not re-render on every report.
   */
  speaking: Speaking;
  online_count: number | null;
  messages: ChatMessage[];
  unread: number;
  panel: Panel | null;
  notices: Notice[];
  announcement: { seq: number; text: string } | null;
  token_expires_in: number | null;
  seq: number;
}

/** Our running screen share: the stream it is published as and what it shows. */
export interface LocalShare {
  stream_id: string;
  source: ShareSource;
}

export interface Speaking {
  /** We speak (our mic is on and loud). */
  self: boolean;
  /** Remote stream IDs that speak, sorted. */
  streams: string[];
}

/** App-side actions (not SDK events). */
export type AppAction =
  | { event: "app/join"; room_id: string; self: User; stream_id: string }
  | { event: "app/rejoin" }
  | { event: "app/leaving" }
  | { event: "app/left" }
  | { event: "app/local"; mic?: boolean; camera?: boolean }
  | { event: "app/panel"; panel: Panel | null }
  | { event: "app/chat-sending"; key: string; text: string; time_ms: number }
  | { event: "app/chat-sent"; key: string; message_id: number }
  | { event: "app/chat-failed"; key: string; error: CommandError }
  | { event: "app/chat-retry"; key: string }
  | { event: "app/notice"; kind: NoticeKind; title: string; detail: string; code: number | null }
  | { event: "app/error"; error: CommandError; title?: string }
  | { event: "app/failed"; error: CommandError }
  | { event: "app/dismiss"; id: number }
  | { event: "app/speaking"; self: boolean; streams: string[] }
  | { event: "app/layer"; stream_id: string; layer: VideoLayer }
  | { event: "app/share"; share: LocalShare | null };

export type Action = SdkEvent | AppEvent | AppAction;

/** Toasts shown at once (UX.md §4). */
export const MAX_NOTICES = 3;
/** Chat history kept in memory. */
export const MAX_MESSAGES = 500;

export function initialState(local: { mic: boolean; camera: boolean } = { mic: true, camera: true }): CallState {
  return {
    phase: "idle",
    room_id: "",
    self: null,
    room: { state: "Disconnected", reason: null, error_code: 0, was_connected: false, snapshot_open: false },
    users: {},
    streams: {},
    publisher: { stream_id: null, state: "NoPublish", error_code: 0, quality: null, first_frame: false },
    local,
    share: null,
    speaking: { self: false, streams: [] },
    online_count: null,
    messages: [],
    unread: 0,
    panel: null,
    notices: [],
    announcement: null,
    token_expires_in: null,
    seq: 0,
  };
}

/** The pure reducer: returns a new state (or the same object when nothing changed). */
export function reduce(s: CallState, a: Action): CallState {
  switch (a.event) {
    // ---- app actions ----
    case "app/join":
      return {
        ...initialState(s.local),
        panel: s.panel,
        phase: "joining",
        room_id: a.room_id,
        self: a.self,
        room: { ...initialState().room, state: "Connecting" },
        publisher: { ...initialState().publisher, stream_id: a.stream_id },
        seq: s.seq,
      };
    case "app/rejoin":
      return {
        ...s,
        speaking: initialState().speaking,
        phase: "joining",
        room: { ...initialState().room, state: "Connecting" },
        users: {},
        streams: {},
        online_count: null,
        publisher: { ...initialState().publisher, stream_id: s.publisher.stream_id },
      };
    case "app/leaving":
      // Keep what is on screen, but stop taking room events.
      return { ...s, phase: "idle" };
    case "app/left":
      // Notices stay: the home screen shows why the call ended.
      return { ...initialState(s.local), seq: s.seq, notices: s.notices };
    case "app/local": {
      const local = { mic: a.mic ?? s.local.mic, camera: a.camera ?? s.local.camera };
      // Muted: no ring on our tile, whatever the microphone hears.
      const speaking = local.mic ? s.speaking : withSpeaking(s.speaking, false, s.speaking.streams);
      return { ...s, local, speaking };
    }
    case "app/speaking": {
      if (s.phase === "idle") return s;
      const streams = [...new Set(a.streams.filter((id) => id in s.streams))].sort();
      const speaking = withSpeaking(s.speaking, a.self && s.local.mic, streams);
      return speaking === s.speaking ? s : { ...s, speaking };
    }
    case "app/layer": {
      const st = s.streams[a.stream_id];
      return st && st.layer !== a.layer ? withStream(s, { ...st, layer: a.layer }) : s;
    }
    case "app/panel":
      return { ...s, panel: a.panel, unread: a.panel === "chat" ? 0 : s.unread };
    case "app/share":
      if (a.share === null && s.share === null) return s;
      return { ...s, share: a.share };
    case "app/chat-sending": {
      if (!s.self) return s;
      const msg: ChatMessage = {
        key: a.key,
        message_id: null,
        from: s.self,
        text: a.text,
        time_ms: a.time_ms,
        own: true,
        status: "sending",
        error: null,
      };
      return { ...s, messages: capMessages([...s.messages, msg]) };
    }
    case "app/chat-sent":
      return updateMessage(s, a.key, { status: "sent", message_id: a.message_id, error: null });
    case "app/chat-failed":
      return updateMessage(s, a.key, { status: "failed", error: a.error });
    case "app/chat-retry":
      return updateMessage(s, a.key, { status: "sending", error: null });
    case "app/notice":
      return notice(s, a.kind, a.title, a.detail, a.code);
    case "app/error": {
      const t = describeError(a.error.code, a.error.message);
      return notice(s, "error", a.title ?? t.title, a.title ? a.error.message : t.detail, a.error.code);
    }
    case "app/failed": {
      if (s.phase === "idle") return s;
      const t = describeError(a.error.code, a.error.message);
      const next = notice(s, "error", t.title, t.detail, a.error.code);
      return { ...next, phase: "failed", room: { ...s.room, state: "Disconnected", error_code: a.error.code } };
    }
    case "app/dismiss":
      return { ...s, notices: s.notices.filter((n) => n.id !== a.id) };

    // ---- app events ----
    case "HostStopped":
      if (s.phase === "idle") return s;
      return notice(s, "error", "The call ended", `The call server in this app stopped: ${a.reason}`, null);

    // ---- SDK events ----
    case "RoomStateUpdate": {
      if (!inRoom(s, a.room_id)) return s;
      const room = { ...s.room, state: a.state, error_code: a.error_code };
      let phase = s.phase;
      let next: CallState = s;
      if (a.state === "Connected") {
        room.snapshot_open = !s.room.was_connected;
        room.was_connected = true;
        phase = "in-call";
      } else if (a.state === "Disconnected" && a.error_code !== 0) {
        phase = "failed";
        const t = describeError(a.error_code);
        next = notice(s, "error", t.title, t.detail, a.error_code);
      }
      return { ...next, room, phase };
    }
    case "RoomStateChanged":
      if (!inRoom(s, a.room_id)) return s;
      return { ...s, room: { ...s.room, reason: a.reason } };
    case "RoomUserUpdate": {
      if (!inRoom(s, a.room_id)) return s;
      const selfId = s.self?.user_id;
      const users = { ...s.users };
      let seq = s.seq;
      const changed: User[] = [];
      for (const u of a.users) {
        if (u.user_id === selfId) continue;
        if (a.update_type === "Add") {
          if (!users[u.user_id]) changed.push(u);
          users[u.user_id] = { user_id: u.user_id, user_name: u.user_name, seq: users[u.user_id]?.seq ?? ++seq };
        } else if (users[u.user_id]) {
          changed.push(users[u.user_id]!);
          delete users[u.user_id];
        }
      }
      let next: CallState = { ...s, users, seq };
      if (changed.length === 0) return next;
      const text = joinLeaveText(changed, a.update_type === "Add" ? "joined" : "left");
      next = announce(next, s.room.snapshot_open ? peopleHereText(Object.keys(users).length) : text);
      if (!s.room.snapshot_open) next = notice(next, "info", text, "", null);
      return next;
    }
    case "RoomOnlineUserCountUpdate":
      if (!inRoom(s, a.room_id)) return s;
      return { ...s, online_count: a.count, room: { ...s.room, snapshot_open: false } };
    case "RoomStreamUpdate": {
      if (!inRoom(s, a.room_id)) return s;
      const streams = { ...s.streams };
      let seq = s.seq;
      for (const st of a.streams) {
        if (st.stream_id === s.publisher.stream_id) continue;
        if (a.update_type === "Add") {
          const old = streams[st.stream_id];
          streams[st.stream_id] = old
            ? { ...old, user: st.user, extra_info: st.extra_info }
            : {
                stream_id: st.stream_id,
                user: st.user,
                extra_info: st.extra_info,
                player: "NoPlay",
                player_error: 0,
                ever_played: false,
                first_frame: false,
                quality: null,
                layer: null,
                mic: null,
                camera: null,
                seq: ++seq,
              };
        } else {
          delete streams[st.stream_id];
        }
      }
      const speaking = withSpeaking(s.speaking, s.speaking.self, s.speaking.streams.filter((id) => id in streams));
      return { ...s, streams, seq, speaking };
    }
    case "RoomTokenWillExpire":
      if (!inRoom(s, a.room_id)) return s;
      return { ...s, token_expires_in: a.remain_time_in_second };
    case "RoomBroadcastMessage": {
      if (!inRoom(s, a.room_id)) return s;
      const have = new Set(s.messages.map((m) => m.key));
      const ownIds = new Set(s.messages.filter((m) => m.own && m.message_id !== null).map((m) => m.message_id));
      const added: ChatMessage[] = [];
      for (const m of a.messages) {
        const key = `m:${m.from_user.user_id}:${m.message_id}`;
        const own = m.from_user.user_id === s.self?.user_id;
        if (have.has(key) || (own && ownIds.has(m.message_id))) continue;
        have.add(key);
        added.push({
          key,
          message_id: m.message_id,
          from: m.from_user,
          text: m.text,
          time_ms: m.send_time_ms,
          own,
          status: own ? "sent" : "received",
          error: null,
        });
      }
      if (added.length === 0) return s;
      const fromOthers = added.filter((m) => !m.own);
      let next: CallState = {
        ...s,
        messages: capMessages([...s.messages, ...added]),
        unread: s.panel === "chat" ? 0 : s.unread + fromOthers.length,
      };
      const last = fromOthers[fromOthers.length - 1];
      if (last) {
        const who = last.from.user_name || last.from.user_id;
        next = announce(next, `${who} says: ${last.text}`);
        // A preview while the chat is closed (UX.md §5).
        if (s.panel !== "chat") next = notice(next, "info", who, preview(last.text), null);
      }
      return next;
    }
    case "PublisherStateUpdate": {
      if (s.phase === "idle" || (s.publisher.stream_id !== null && a.stream_id !== s.publisher.stream_id)) return s;
      let next: CallState = {
        ...s,
        publisher: {
          ...s.publisher,
          state: a.state,
          error_code: a.error_code,
          quality: a.state === "Publishing" ? s.publisher.quality : null,
        },
      };
      if (a.error_code !== 0 && a.error_code !== s.publisher.error_code) {
        const t = describeError(a.error_code);
        next = notice(next, a.state === "NoPublish" ? "error" : "warning", t.title, t.detail, a.error_code);
      }
      return next;
    }
    case "PublisherCapturedVideoFirstFrame":
      if (a.channel !== "Main") return s;
      return { ...s, publisher: { ...s.publisher, first_frame: true } };
    case "PublisherQualityUpdate":
      if (s.phase === "idle") return s;
      return { ...s, publisher: { ...s.publisher, quality: a.quality } };
    case "PlayerStateUpdate": {
      const st = s.streams[a.stream_id];
      if (!st) return s;
      let next = withStream(s, {
        ...st,
        player: a.state,
        player_error: a.error_code,
        ever_played: st.ever_played || a.state === "Playing",
        first_frame: a.state === "Playing" ? st.first_frame : false,
        quality: a.state === "Playing" ? st.quality : null,
      });
      // A final failure is worth a toast; retries and "stream stopped" show on the tile.
      if (a.state === "NoPlay" && a.error_code !== 0 && a.error_code !== ErrorCode.StreamEnded) {
        const t = describeError(a.error_code);
        next = notice(next, "warning", `${t.title} (${st.user.user_name || st.user.user_id})`, t.detail, a.error_code);
      }
      return next;
    }
    case "PlayerRecvVideoFirstFrame":
    case "PlayerRecvAudioFirstFrame":
      return s;
    case "PlayerRenderVideoFirstFrame": {
      const st = s.streams[a.stream_id];
      return st ? withStream(s, { ...st, first_frame: true }) : s;
    }
    case "PlayerQualityUpdate": {
      const st = s.streams[a.stream_id];
      return st ? withStream(s, { ...st, quality: a.quality }) : s;
    }
    case "RemoteMicStateUpdate": {
      const st = s.streams[a.stream_id];
      return st ? withStream(s, { ...st, mic: a.state }) : s;
    }
    case "RemoteCameraStateUpdate": {
      const st = s.streams[a.stream_id];
      return st ? withStream(s, { ...st, camera: a.state }) : s;
    }
    case "LocalDeviceError": {
      const t = describeError(a.error_code, a.info);
      return notice(s, "warning", t.title, t.detail, a.error_code);
    }
    case "Debug":
      return s;
    // Ten times a second: speaking.ts turns them into `app/speaking` when who speaks changes.
    case "CapturedSoundLevelUpdate":
    case "RemoteSoundLevelUpdate":
      return s;
    default:
      return s;
  }
}

// ---- selectors ----

/** True while the banner "Reconnecting…" should show (Connecting after having been connected). */
export function isReconnecting(s: CallState): boolean {
  return s.phase !== "idle" && s.room.state === "Connecting" && s.room.was_connected;
}

/** Remote streams in tile order: join order (stable pages, UX.md §2). */
export function orderedStreams(s: CallState): RemoteStream[] {
  return Object.values(s.streams).sort((a, b) => a.seq - b.seq);
}

export interface PersonRow {
  user_id: string;
  name: string;
  self: boolean;
  mic: boolean | null;
  camera: boolean | null;
  speaking: boolean;
}

/** The people list: "(You)" first, then who speaks now, then A–Z (UX.md §5); `query` filters by name (case-insensitive). */
export function people(s: CallState, query = ""): PersonRow[] {
  const q = query.trim().toLocaleLowerCase();
  const rows: PersonRow[] = [];
  const speakingIds = new Set(s.speaking.streams);
  const streamsByUser = new Map<string, RemoteStream[]>();
  for (const st of Object.values(s.streams)) {
    const list = streamsByUser.get(st.user.user_id) ?? [];
    list.push(st);
    streamsByUser.set(st.user.user_id, list);
  }
  const others = new Map<string, string>();
  for (const u of Object.values(s.users)) others.set(u.user_id, u.user_name);
  // Someone publishing is present even if the user list lags behind.
  for (const st of Object.values(s.streams)) if (!others.has(st.user.user_id)) others.set(st.user.user_id, st.user.user_name);
  const otherRows: PersonRow[] = [];
  for (const [id, name] of others) {
    if (id === s.self?.user_id) continue;
    const own = streamsByUser.get(id) ?? [];
    const st = own.find((x) => !isShareStream(x.stream_id)) ?? own[0];
    otherRows.push({
      user_id: id,
      name: name || id,
      self: false,
      mic: st ? st.mic !== "Mute" : null,
      camera: st ? st.camera !== "Mute" : null,
      speaking: (streamsByUser.get(id) ?? []).some((x) => speakingIds.has(x.stream_id)),
    });
  }
  otherRows.sort(
    (a, b) =>
      Number(b.speaking) - Number(a.speaking) ||
      a.name.localeCompare(b.name, undefined, { sensitivity: "base" }) ||
      a.user_id.localeCompare(b.user_id),
  );
  if (s.self) {
    rows.push({ user_id: s.self.user_id, name: s.self.user_name || s.self.user_id, self: true, mic: s.local.mic, camera: s.local.camera, speaking: s.speaking.self });
  }
  rows.push(...otherRows);
  return q ? rows.filter((r) => r.name.toLocaleLowerCase().includes(q)) : rows;
}

/** How many people are in the call: the server's count, else what we know. */
export function headCount(s: CallState): number {
  if (s.online_count !== null) return s.online_count;
  return people(s).length;
}

// ---- helpers ----

function inRoom(s: CallState, room_id: string): boolean {
  return s.phase !== "idle" && room_id === s.room_id;
}

/** The same object when nothing changed (no re-render). */
function withSpeaking(old: Speaking, self: boolean, streams: string[]): Speaking {
  if (old.self === self && old.streams.length === streams.length && old.streams.every((id, i) => id === streams[i])) return old;
  return { self, streams };
}

/** Whether a remote stream's tile shows the speaking ring. */
export function isStreamSpeaking(s: CallState, stream_id: string): boolean {
  return s.speaking.streams.includes(stream_id);
}

function withStream(s: CallState, st: RemoteStream): CallState {
  return { ...s, streams: { ...s.streams, [st.stream_id]: st } };
}

function notice(s: CallState, kind: NoticeKind, title: string, detail: string, code: number | null): CallState {
  const id = s.seq + 1;
  const notices = [...s.notices, { id, kind, title, detail, code }];
  return { ...s, seq: id, notices: notices.slice(-MAX_NOTICES) };
}

function announce(s: CallState, text: string): CallState {
  return { ...s, announcement: { seq: (s.announcement?.seq ?? 0) + 1, text } };
}

function updateMessage(s: CallState, key: string, patch: Partial<ChatMessage>): CallState {
  const i = s.messages.findIndex((m) => m.key === key);
  if (i < 0) return s;
  const messages = s.messages.slice();
  messages[i] = { ...messages[i]!, ...patch };
  return { ...s, messages };
}

function capMessages(m: ChatMessage[]): ChatMessage[] {
  return m.length > MAX_MESSAGES ? m.slice(-MAX_MESSAGES) : m;
}

/** "Ann joined", "Ann and Bob joined", "Ann and 3 others joined" (UX.md §4 batching). */
export function joinLeaveText(users: User[], verb: "joined" | "left"): string {
  const names = users.map((u) => u.user_name || u.user_id);
  if (names.length === 1) return `${names[0]} ${verb}`;
  if (names.length === 2) return `${names[0]} and ${names[1]} ${verb}`;
  return `${names[0]} and ${names.length - 1} others ${verb}`;
}

/** At most 80 characters of a chat message, on one line. */
export function preview(text: string, max = 80): string {
  const one = text.replace(/\s+/g, " ").trim();
  const chars = [...one];
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : one;
}

function peopleHereText(n: number): string {
  if (n === 0) return "You are the only one here";
  return n === 1 ? "1 other person is here" : `${n} other people are here`;
}

// ---- store ----

/** A minimal store: `dispatch` runs the reducer and notifies subscribers when the state changed. */
export class Store<S, A> {
  private listeners = new Set<(s: S, prev: S) => void>();
  constructor(
    private reducer: (s: S, a: A) => S,
    private current: S,
  ) {}

  get state(): S {
    return this.current;
  }

  dispatch(a: A): void {
    const prev = this.current;
    const next = this.reducer(prev, a);
    if (next === prev) return;
    this.current = next;
    for (const l of [...this.listeners]) l(next, prev);
  }

  subscribe(fn: (s: S, prev: S) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

export type CallStore = Store<CallState, Action>;

export function createCallStore(): CallStore {
  return new Store<CallState, Action>(reduce, initialState());
}
