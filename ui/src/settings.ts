// Settings (docs/app-contract.md `Settings`): defaults, and normalising
// whatever load_settings returned so a missing or odd field never breaks the UI.

import type { HostScope, Settings, Theme, VideoSource } from "./types.js";
import { THEMES, VIDEO_PRESETS } from "./types.js";
import { generateUserId } from "./names.js";
import { normalizeFingerprint } from "./invite.js";
import { DEFAULT_AUDIO_PROCESSING, echoCancellationOf, noiseSuppressionOf } from "./audio-processing.js";

export const DEFAULT_PRESET = "360p";

export function defaultSettings(userId = ""): Settings {
  return {
    user_id: userId,
    name: "",
    last_server: "",
    last_room: "",
    last_app_id: null,
    last_app_sign: "",
    last_token: "",
    last_pin: "",
    camera: null,
    microphone: null,
    speaker: null,
    video_source: "camera",
    video_preset: DEFAULT_PRESET,
    host_scope: "this_computer",
    theme: "system",
    ...DEFAULT_AUDIO_PROCESSING,
  };
}

function str(v: unknown, d: string): string {
  return typeof v === "string" ? v : d;
}

function strOrNull(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

/** Settings from anything: unknown or wrongly typed fields take their defaults; a missing user ID is generated. */
export function normalizeSettings(raw: unknown, random: () => number = Math.random): Settings {
  const o = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  const d = defaultSettings();
  const appId = typeof o.last_app_id === "number" && Number.isSafeInteger(o.last_app_id) && o.last_app_id > 0 ? o.last_app_id : null;
  const theme = THEMES.includes(o.theme as Theme) ? (o.theme as Theme) : d.theme;
  const scope: HostScope = o.host_scope === "network" ? "network" : "this_computer";
  const source: VideoSource = o.video_source === "test_pattern" ? "test_pattern" : "camera";
  const preset = (VIDEO_PRESETS as readonly string[]).includes(o.video_preset as string) ? (o.video_preset as string) : d.video_preset;
  const userId = str(o.user_id, "").trim();
  return {
    user_id: userId || generateUserId(random),
    name: str(o.name, d.name),
    last_server: str(o.last_server, d.last_server),
    last_room: str(o.last_room, d.last_room),
    last_app_id: appId,
    last_app_sign: str(o.last_app_sign, d.last_app_sign),
    last_token: str(o.last_token, d.last_token).trim(),
    last_pin: normalizeFingerprint(str(o.last_pin, "")) ?? d.last_pin,
    camera: strOrNull(o.camera),
    microphone: strOrNull(o.microphone),
    speaker: strOrNull(o.speaker),
    video_source: source,
    video_preset: preset,
    host_scope: scope,
    theme,
    noise_suppression: noiseSuppressionOf(o.noise_suppression),
    echo_cancellation: echoCancellationOf(o.echo_cancellation),
  };
}

/**
 * Saves settings a moment after the last change (typing a name saves once).
 * `flush` saves a pending change at once (before joining, on unload).
 */
export class SettingsSaver {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pending: Settings | null = null;

  constructor(
    private save: (s: Settings) => Promise<unknown>,
    private onError: (e: unknown) => void,
    private delayMs = 400,
  ) {}

  queue(s: Settings): void {
    this.pending = s;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), this.delayMs);
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const s = this.pending;
    this.pending = null;
    if (!s) return;
    try {
      await this.save(s);
    } catch (e) {
      this.onError(e);
    }
  }
}
