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
  app_sign?: string;
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
  ws_url: string;
  http_url: string;
  debug_page_url: string;
  addresses: string[];
  app_id: number;
  app_sign: string;
  invite: string;
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
