// The contract's data shapes (docs/app-contract.md), as the UI receives them:
// media-core's `Event` enum serialised by serde (snake_case fields, enums as
// their variant names) and the app commands' argument and result types.

export type RoomState = "Disconnected" | "Connecting" | "Connected";
export type RoomStateChangedReason =
  | "Logining"
  | "Logined"
  | "LoginFailed"
  | "Reconnecting"
  | "Reconnected"
  | "ReconnectFailed"
  | "KickOut"
  | "Logout"
  | "LogoutFailed";
export type UpdateType = "Add" | "Delete";
export type PublisherState = "NoPublish" | "PublishRequesting" | "Publishing";
export type PlayerState = "NoPlay" | "PlayRequesting" | "Playing";
export type DeviceType = "Camera" | "Microphone" | "Speaker";
export type PublishChannel = "Main" | "Aux";
export type StreamQualityLevel = "Excellent" | "Good" | "Medium" | "Bad" | "Die";
/** ZEGO's remote device state as relayed by `RemoteMicStateUpdate` / `RemoteCameraStateUpdate`. */
export type RemoteDeviceState = "Open" | "Mute";

export interface User {
  user_id: string;
  user_name: string;
}

export interface Stream {
  stream_id: string;
  user: User;
  extra_info: string;
}

export interface BroadcastMessage {
  message_id: number;
  from_user: User;
  text: string;
  send_time_ms: number;
}

/** The network path of a stream's media: the selected ICE candidate pair. */
export interface MediaPath {
  local: "host" | "srflx" | "prflx" | "relay";
  remote: "host" | "srflx" | "prflx" | "relay";
  protocol: "udp" | "tcp";
}

export interface PublishStreamQuality {
  /** Null until ICE has chosen a pair (older SDKs: absent). */
  path?: MediaPath | null;
  video_capture_fps: number;
  video_encode_fps: number;
  video_send_fps: number;
  video_kbps: number;
  audio_send_fps: number;
  audio_kbps: number;
  rtt_ms: number;
  packet_loss_rate: number;
  target_kbps: number;
  width: number;
  height: number;
  video_codec: string;
  total_send_bytes: number;
  level: StreamQualityLevel | null;
}

export interface PlayStreamQuality {
  /** Null until ICE has chosen a pair (older SDKs: absent). */
  path?: MediaPath | null;
  video_recv_fps: number;
  video_decode_fps: number;
  video_render_fps: number;
  video_kbps: number;
  video_break_rate: number;
  audio_recv_fps: number;
  audio_kbps: number;
  audio_break_rate: number;
  mos: number;
  rtt_ms: number;
  packet_loss_rate: number;
  jitter_ms: number;
  end_to_end_delay_ms: number;
  av_timestamp_diff_ms: number;
  width: number;
  height: number;
  video_codec: string;
  total_recv_bytes: number;
  level: StreamQualityLevel | null;
}

/** Every SDK event the UI handles, tagged by `event` exactly as emitted. */
export type SdkEvent =
  | { event: "RoomStateUpdate"; room_id: string; state: RoomState; error_code: number; extended_data: string }
  | { event: "RoomStateChanged"; room_id: string; reason: RoomStateChangedReason; error_code: number; extended_data: string }
  | { event: "RoomUserUpdate"; room_id: string; update_type: UpdateType; users: User[] }
  | { event: "RoomOnlineUserCountUpdate"; room_id: string; count: number }
  | { event: "RoomStreamUpdate"; room_id: string; update_type: UpdateType; streams: Stream[]; extended_data: string }
  | { event: "RoomTokenWillExpire"; room_id: string; remain_time_in_second: number }
  | { event: "RoomBroadcastMessage"; room_id: string; messages: BroadcastMessage[] }
  | { event: "PublisherStateUpdate"; stream_id: string; state: PublisherState; error_code: number; extended_data: string }
  | { event: "PublisherCapturedVideoFirstFrame"; channel: PublishChannel }
  | { event: "PublisherQualityUpdate"; stream_id: string; quality: PublishStreamQuality }
  | { event: "PlayerStateUpdate"; stream_id: string; state: PlayerState; error_code: number; extended_data: string }
  | { event: "PlayerRecvVideoFirstFrame"; stream_id: string }
  | { event: "PlayerRenderVideoFirstFrame"; stream_id: string }
  | { event: "PlayerRecvAudioFirstFrame"; stream_id: string }
  | { event: "PlayerQualityUpdate"; stream_id: string; quality: PlayStreamQuality }
  | { event: "RemoteMicStateUpdate"; stream_id: string; state: RemoteDeviceState }
  | { event: "RemoteCameraStateUpdate"; stream_id: string; state: RemoteDeviceState }
  | { event: "LocalDeviceError"; device_type: DeviceType; error_code: number; info: string }
  | { event: "Debug"; error_code: number; func_name: string; info: string }
  /** Our microphone's level (0..100) over the last interval, muted or not, while the sound level monitor runs. */
  | { event: "CapturedSoundLevelUpdate"; level: number }
  /** The level (0..100) of each played stream, by stream ID, while the monitor runs. */
  | { event: "RemoteSoundLevelUpdate"; levels: Record<string, number> };

/** App events (not SDK callbacks). */
export type AppEvent = { event: "HostStopped"; reason: string };

export type SdkEventName = SdkEvent["event"];

/** Every SDK event name the UI subscribes to. */
export const SDK_EVENT_NAMES: readonly SdkEventName[] = [
  "RoomStateUpdate",
  "RoomStateChanged",
  "RoomUserUpdate",
  "RoomOnlineUserCountUpdate",
  "RoomStreamUpdate",
  "RoomTokenWillExpire",
  "RoomBroadcastMessage",
  "PublisherStateUpdate",
  "PublisherCapturedVideoFirstFrame",
  "PublisherQualityUpdate",
  "PlayerStateUpdate",
  "PlayerRecvVideoFirstFrame",
  "PlayerRenderVideoFirstFrame",
  "PlayerRecvAudioFirstFrame",
  "PlayerQualityUpdate",
  "RemoteMicStateUpdate",
  "RemoteCameraStateUpdate",
  "LocalDeviceError",
  "Debug",
  "CapturedSoundLevelUpdate",
  "RemoteSoundLevelUpdate",
];

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
