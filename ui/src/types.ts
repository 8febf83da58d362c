// The contract's data shapes (docs/app-contract.md), as the UI receives them:
// media-core's `Event` enum serialised by serde (snake_case fields, enums as
// their variant names), generated from the Rust types into generated/
// (`cargo run -p contract`), and the app commands' argument and
// result types.

export type {
  BroadcastMessage,
  CandidateKind,
  DeviceType,
  MediaPath,
  PathProtocol,
  PlayerState,
  PlayStreamQuality,
  PublishChannel,
  PublisherState,
  PublishStreamQuality,
  RemoteDeviceState,
  RoomState,
  RoomStateChangedReason,
  Stream,
  StreamQualityLevel,
  UpdateType,
  User,
} from "./generated/events.js";
import { EVENT_NAMES, type Event } from "./generated/events.js";

/** Every SDK event the UI handles, tagged by `event` exactly as emitted. */
export type SdkEvent = Event;

/** App events (not SDK callbacks). */
export type AppEvent = { event: "HostStopped"; reason: string };

export type SdkEventName = SdkEvent["event"];

/** Every SDK event name the UI subscribes to. */
export const SDK_EVENT_NAMES: readonly SdkEventName[] = EVENT_NAMES;

/**
 * Other names the sound level events may arrive under (the brief of the
 * contract spelt them in snake_case); `listenAll` maps them to the SDK names.
 */
export const EVENT_ALIASES: Readonly<Record<string, SdkEventName>> = {
  captured_sound_level_update: "CapturedSoundLevelUpdate",
  remote_sound_level_update: "RemoteSoundLevelUpdate",
};

// ---- commands ----

export type Scenario = "Default" | "StandardVideoCall" | "HighQualityVideoCall" | "Broadcast";

export interface EngineProfile {
  server: string;
  app_id: number;
  /** Only for people running their own server with its AppSign; guests log in with an invite's token instead. */
  app_sign?: string;
  /**
   * The SHA-256 fingerprint of the server's (self-signed) TLS certificate,
   * "AB:CD:…" (32 bytes, uppercase hex): the SDK then trusts that certificate
   * without any CA. From an invite's `fp`.
   */
  pin?: string;
  scenario?: Scenario;
}

export interface DeviceInfo {
  id: string;
  name: string;
}

export interface DeviceList {
  cameras: DeviceInfo[];
  microphones: DeviceInfo[];
  speakers: DeviceInfo[];
}

export type VideoSource = "camera" | "test_pattern";
export type AudioSource = "microphone" | "tone" | "none";
export type VideoPreset = "180p" | "270p" | "360p" | "540p" | "720p" | "1080p";
export const VIDEO_PRESETS: readonly VideoPreset[] = ["180p", "270p", "360p", "540p", "720p", "1080p"];
export type HostScope = "this_computer" | "network";
export type Theme = "system" | "light" | "dark" | "high-contrast";
export const THEMES: readonly Theme[] = ["system", "light", "dark", "high-contrast"];

export interface HostInfo {
  /** What the host app itself joins. */
  ws_url: string;
  http_url: string;
  debug_page_url: string;
  /** Signaling URLs others can use: `wss://<lan-ip>:<port>/ws` ("network", TLS), `ws://127.0.0.1:<port>/ws` ("this computer"). */
  addresses: string[];
  app_id: number;
  /** Only for the host app to log itself in: never shown, never in an invite. */
  app_sign: string;
  /** The TLS certificate's SHA-256 fingerprint ("AB:CD:…"); null when the server is not TLS. */
  fingerprint: string | null;
  /**
   * The ports a host behind a home router forwards for people outside its
   * network: TCP (signaling, ICE-TCP, TURN/TCP) and UDP (media; null when unknown).
   */
  forward: { tcp: number; udp: number | null };
}

/** `host_invite`'s answer: the host's invite for one room. */
export interface HostInvite {
  /** `confer://join?server=…&app_id=…&room=…&token=CF1…&fp=…` (fp only with TLS). */
  link: string;
  /** Room-scoped, expiring, for any user ID not in use. */
  token: string;
  /** Unix seconds. */
  expires_at: number;
}

/** One check of `check_reachability` (the same checks, in the same order, as `confer doctor`). */
export interface ReachabilityCheck {
  /** E.g. "DNS", "TCP", "TLS", "WebSocket", "Login", "UDP media", "TURN". */
  name: string;
  /** What was checked, e.g. "192.168.1.20:40123". */
  target: string;
  ok: boolean;
  /** The error code when it failed (0 when it passed). */
  code: number;
  detail: string;
  elapsed_ms: number;
}

export interface ReachabilityReport {
  checks: ReachabilityCheck[];
}

export interface TileRect {
  tile_id: string;
  x: number;
  y: number;
  width: number;
  height: number;
  visible: boolean;
}

export interface Diagnostics {
  render_path: "native-x11" | "canvas";
  reason: string;
  adapter: string | null;
  platform: string;
  tiles: number;
}

export interface Settings {
  user_id: string;
  name: string;
  last_server: string;
  last_room: string;
  last_app_id: number | null;
  last_app_sign: string;
  /**
   * The last invite's token (room-scoped, expiring: its own claims say until
   * when, so no expiry field is kept; an expired one is not filled in).
   * Needs the Rust side's `Settings` to have the field, else it is dropped on save.
   */
  last_token: string;
  /** The last server's certificate fingerprint (from the invite), "" when none. Same caveat. */
  last_pin: string;
  camera: string | null;
  microphone: string | null;
  speaker: string | null;
  video_source: VideoSource;
  video_preset: string;
  host_scope: HostScope;
  theme: Theme;
}

export interface AppInfo {
  version: string;
  config_dir: string;
}

/** What every rejected command gives the UI (normalised by `tauri.ts`). */
export interface CommandError {
  code: number;
  message: string;
}
