// Typed wrappers for every command and event of docs/app-contract.md, over
// `window.__TAURI__` (withGlobalTauri), so the UI needs no npm runtime package.
// Every rejection is normalised to `{ code, message }`.

import type {
  AppEvent,
  AppInfo,
  AudioProcessing,
  AudioSource,
  CommandError,
  DeviceList,
  Diagnostics,
  EngineProfile,
  HostInfo,
  HostInvite,
  HostScope,
  ReachabilityReport,
  SdkEvent,
  Settings,
  TileRect,
  VideoPreset,
  VideoLayer,
  VideoSource,
} from "./types.js";
import type { ShareHint, ShareSource, ShareStatus } from "./generated/app.js";
import { EVENT_ALIASES, SDK_EVENT_NAMES } from "./types.js";
import { ErrorCode } from "./generated/error-codes.js";

/** A Tauri IPC channel: Rust pushes messages, `onmessage` receives them. */
export interface TauriChannel<T> {
  onmessage: (message: T) => void;
}

interface TauriGlobal {
  core: {
    invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
    Channel: new <T>() => TauriChannel<T>;
  };
  event: {
    listen<T>(name: string, handler: (e: { payload: T }) => void): Promise<() => void>;
  };
}

declare global {
  interface Window {
    __TAURI__?: TauriGlobal;
  }
}

/** The code used when a failure carries none (not a Tauri CommandError). */
export const UNKNOWN_ERROR_CODE = ErrorCode.Internal;

/** Turns whatever a rejected command gave into `{ code, message }`. */
export function normaliseError(err: unknown): CommandError {
  if (err && typeof err === "object") {
    const o = err as Record<string, unknown>;
    const code = typeof o.code === "number" ? o.code : Number(o.code);
    const message =
      typeof o.message === "string" ? o.message : typeof o.error === "string" ? o.error : JSON.stringify(err);
    return { code: Number.isFinite(code) && code > 0 ? code : UNKNOWN_ERROR_CODE, message };
  }
  if (typeof err === "string") {
    // Some Tauri failures (command not found, bad args) reject with a bare string.
    try {
      const parsed: unknown = JSON.parse(err);
      if (parsed && typeof parsed === "object") return normaliseError(parsed);
    } catch {
      /* not JSON */
    }
    return { code: UNKNOWN_ERROR_CODE, message: err };
  }
  return { code: UNKNOWN_ERROR_CODE, message: String(err) };
}

/** Every command of the contract. `session.ts` and the screens take this interface so tests can fake it. */
export interface Api {
  createEngine(profile: EngineProfile): Promise<null>;
  destroyEngine(): Promise<null>;
  loginRoom(a: { room_id: string; user_id: string; user_name: string; token?: string; is_user_status_notify: boolean }): Promise<null>;
  logoutRoom(): Promise<null>;
  startPreview(tile_id: string): Promise<null>;
  stopPreview(): Promise<null>;
  startPublishingStream(stream_id: string): Promise<null>;
  stopPublishingStream(): Promise<null>;
  startPlayingStream(stream_id: string, tile_id: string): Promise<null>;
  stopPlayingStream(stream_id: string): Promise<null>;
  muteMicrophone(mute: boolean): Promise<null>;
  enableCamera(enable: boolean): Promise<null>;
  mutePublishStreamAudio(mute: boolean): Promise<null>;
  mutePublishStreamVideo(mute: boolean): Promise<null>;
  mutePlayStreamAudio(stream_id: string, mute: boolean): Promise<null>;
  mutePlayStreamVideo(stream_id: string, mute: boolean): Promise<null>;
  /** The highest simulcast layer to receive of a played stream (the grid asks by tile size: layer-caps.ts). */
  setPlayStreamVideoLayer(stream_id: string, layer: VideoLayer): Promise<null>;
  listDevices(): Promise<DeviceList>;
  useVideoDevice(device_id: string): Promise<null>;
  useAudioDevice(device_id: string): Promise<null>;
  useSpeakerDevice(device_id: string | null): Promise<null>;
  /** Plays the test chime on that speaker (`null`: the current one) and resolves when it has played (about 1 s); works without an engine. */
  testSpeaker(device_id: string | null): Promise<null>;
  setVideoSource(source: VideoSource): Promise<null>;
  setAudioSource(source: AudioSource): Promise<null>;
  setVideoConfig(preset: VideoPreset): Promise<null>;
  setCameraZoomFactor(factor: number): Promise<null>;
  /** Noise suppression and echo cancellation: applied to the engine now and to every later one; works without an engine. */
  setAudioProcessing(processing: AudioProcessing): Promise<null>;
  /** Plays the processed microphone on the speaker (`true`) or stops; needs an engine. */
  setAudioLoopback(on: boolean): Promise<null>;
  /** The engine's processing as the SDK reports it (without an engine: what the next one gets). */
  audioProcessing(): Promise<AudioProcessing>;
  sendBroadcastMessage(message: string): Promise<number>;
  renewToken(token: string): Promise<null>;
  hostCall(scope: HostScope): Promise<HostInfo>;
  /** The host's invite for one room (token valid `ttl_secs`); only while hosting. */
  hostInvite(a: { room: string; ttl_secs: number }): Promise<HostInvite>;
  /** `confer doctor`'s checks against the host's own advertised addresses; takes a few seconds. */
  checkReachability(): Promise<ReachabilityReport>;
  stopHosting(): Promise<null>;
  updateTiles(tiles: TileRect[]): Promise<null>;
  attachCanvas(tile_id: string, channel: TauriChannel<unknown>): Promise<null>;
  diagnostics(): Promise<Diagnostics>;
  loadSettings(): Promise<Settings>;
  saveSettings(settings: Settings): Promise<null>;
  userTheme(): Promise<string | null>;
  appInfo(): Promise<AppInfo>;
  /** Level reports every `interval_ms` (100..3000); safe in any state, before login too. */
  startSoundLevelMonitor(interval_ms: number): Promise<null>;
  stopSoundLevelMonitor(): Promise<null>;
  /** The screens and windows that can be shared, with thumbnails (never the app's own windows). */
  listShareSources(): Promise<ShareSource[]>;
  /** Shares a source as the aux channel's stream `stream_id`; a running share is replaced. Later states: `ScreenCaptureStateUpdate`. */
  startShare(a: { source_id: string; hint: ShareHint; stream_id: string }): Promise<ShareStatus>;
  stopShare(): Promise<null>;
}

function tauri(): TauriGlobal {
  const t = window.__TAURI__;
  if (!t) throw { code: UNKNOWN_ERROR_CODE, message: "not running inside the Confer app (window.__TAURI__ is missing)" };
  return t;
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await tauri().core.invoke<T>(cmd, args);
  } catch (e) {
    throw normaliseError(e);
  }
}

/** The real API over `window.__TAURI__.core.invoke` (snake_case argument keys). */
export const api: Api = {
  createEngine: (profile) => call("create_engine", { profile }),
  destroyEngine: () => call("destroy_engine"),
  loginRoom: (a) => call("login_room", { ...a }),
  logoutRoom: () => call("logout_room"),
  startPreview: (tile_id) => call("start_preview", { tile_id }),
  stopPreview: () => call("stop_preview"),
  startPublishingStream: (stream_id) => call("start_publishing_stream", { stream_id }),
  stopPublishingStream: () => call("stop_publishing_stream"),
  startPlayingStream: (stream_id, tile_id) => call("start_playing_stream", { stream_id, tile_id }),
  stopPlayingStream: (stream_id) => call("stop_playing_stream", { stream_id }),
  muteMicrophone: (mute) => call("mute_microphone", { mute }),
  enableCamera: (enable) => call("enable_camera", { enable }),
  mutePublishStreamAudio: (mute) => call("mute_publish_stream_audio", { mute }),
  mutePublishStreamVideo: (mute) => call("mute_publish_stream_video", { mute }),
  mutePlayStreamAudio: (stream_id, mute) => call("mute_play_stream_audio", { stream_id, mute }),
  mutePlayStreamVideo: (stream_id, mute) => call("mute_play_stream_video", { stream_id, mute }),
  setPlayStreamVideoLayer: (stream_id, layer) => call("set_play_stream_video_layer", { stream_id, layer }),
  listDevices: () => call("list_devices"),
  useVideoDevice: (device_id) => call("use_video_device", { device_id }),
  useAudioDevice: (device_id) => call("use_audio_device", { device_id }),
  useSpeakerDevice: (device_id) => call("use_speaker_device", { device_id }),
  testSpeaker: (device_id) => call("test_speaker", { device_id }),
  setVideoSource: (source) => call("set_video_source", { source }),
  setAudioSource: (source) => call("set_audio_source", { source }),
  setVideoConfig: (preset) => call("set_video_config", { preset }),
  setCameraZoomFactor: (factor) => call("set_camera_zoom_factor", { factor }),
  setAudioProcessing: (processing) => call("set_audio_processing", { processing }),
  setAudioLoopback: (on) => call("set_audio_loopback", { on }),
  audioProcessing: () => call("audio_processing"),
  sendBroadcastMessage: (message) => call("send_broadcast_message", { message }),
  renewToken: (token) => call("renew_token", { token }),
  hostCall: (scope) => call("host_call", { scope }),
  hostInvite: (a) => call("host_invite", { ...a }),
  checkReachability: () => call("check_reachability"),
  stopHosting: () => call("stop_hosting"),
  updateTiles: (tiles) => call("update_tiles", { tiles }),
  attachCanvas: (tile_id, channel) => call("attach_canvas", { tile_id, channel }),
  diagnostics: () => call("diagnostics"),
  loadSettings: () => call("load_settings"),
  saveSettings: (settings) => call("save_settings", { settings }),
  userTheme: () => call("user_theme"),
  appInfo: () => call("app_info"),
  startSoundLevelMonitor: (interval_ms) => call("start_sound_level_monitor", { interval_ms }),
  stopSoundLevelMonitor: () => call("stop_sound_level_monitor"),
  listShareSources: () => call("list_share_sources"),
  startShare: (a) => call("start_share", { ...a }),
  stopShare: () => call("stop_share"),
};

/** A new IPC channel for `attach_canvas`. */
export function newChannel<T>(): TauriChannel<T> {
  return new (tauri().core.Channel)<T>();
}

/**
 * Subscribes to every SDK event and the app events; `onEvent` gets each
 * payload in emission order. Resolves to an unsubscribe function.
 */
export async function listenAll(onEvent: (e: SdkEvent | AppEvent) => void): Promise<() => void> {
  const t = tauri();
  const names: string[] = [...SDK_EVENT_NAMES, "HostStopped", ...Object.keys(EVENT_ALIASES)];
  const unlisteners = await Promise.all(
    names.map((name) =>
      t.event.listen<Record<string, unknown>>(name, (e) => onEvent(eventFrom(name, e.payload))),
    ),
  );
  return () => unlisteners.forEach((u) => u());
}

/** The action for a Tauri event: its payload with `event` set (app events may lack it), aliases mapped to the SDK names. */
export function eventFrom(name: string, payload: unknown): SdkEvent | AppEvent {
  const p = payload && typeof payload === "object" ? (payload as Record<string, unknown>) : {};
  const tag = typeof p.event === "string" ? p.event : name;
  return { ...p, event: EVENT_ALIASES[tag] ?? tag } as SdkEvent | AppEvent;
}
