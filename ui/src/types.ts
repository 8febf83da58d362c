// The contract's data shapes (docs/app-contract.md), as the UI receives them:
// media-core's `Event` enum serialised by serde (snake_case fields, enums as
// their variant names) and the app commands' arguments and results
// (src-tauri/types), both generated from the Rust types (`cargo run -p
// contract` writes contract/ts/, the build copies it into generated/). Only
// what is UI-only is written here.

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
export type { VideoLayer } from "./generated/protocol.js";
import { EVENT_NAMES, type Event } from "./generated/events.js";
import type { HostStopped, Theme } from "./generated/app.js";

/** Every SDK event the UI handles, tagged by `event` exactly as emitted. */
export type SdkEvent = Event;

/** App events (not SDK callbacks): the event's name and its payload. */
export type AppEvent = { event: "HostStopped" } & HostStopped;

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

// ---- commands (generated: src-tauri/types) ----

export type {
  AppInfo, AudioProcessing, CommandError, Device, DeviceList, Diagnostics, EchoCancellation, EngineProfile, HostInfo, HostInvite, HostScope, HostStopped, NoiseSuppression,
  Scenario, Settings, Theme, TileRect, UpdateInfo, UpdateProgress,
  // The UI's names for them.
  Check as ReachabilityCheck, Reachability as ReachabilityReport, Step as ReachabilityStep, VideoSourceSetting as VideoSource,
} from "./generated/app.js";

// ---- UI-only (commands take these as strings) ----

export type AudioSource = "microphone" | "tone" | "none";
export type VideoPreset = "180p" | "270p" | "360p" | "540p" | "720p" | "1080p";
export const VIDEO_PRESETS: readonly VideoPreset[] = ["180p", "270p", "360p", "540p", "720p", "1080p"];
export const THEMES: readonly Theme[] = ["system", "light", "dark", "high-contrast"];
