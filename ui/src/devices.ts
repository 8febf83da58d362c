// Device choices: what the camera, microphone and speaker pickers show and
// what a fresh engine gets told (video preset, sources, devices). Shared by
// the home screen's pickers and the call's switch-device menus.

import type { Api } from "./tauri.js";
import { normaliseError } from "./tauri.js";
import type { AudioProcessing, CommandError, DeviceList, Settings, VideoPreset } from "./types.js";
import { processingOf } from "./audio-processing.js";
import { VIDEO_PRESETS } from "./types.js";

/** The camera picker's "Test pattern" entry (set_video_source("test_pattern")). */
export const TEST_PATTERN = "test";
/** The microphone picker's "Test tone" entry (set_audio_source("tone")); persisted as `microphone: "tone"`. */
export const TONE = "tone";
/** The speaker picker's "System default" entry (use_speaker_device(null)). */
export const SYSTEM_DEFAULT = "";

export const EMPTY_DEVICES: DeviceList = { cameras: [], microphones: [], speakers: [] };

export interface Option {
  value: string;
  label: string;
}

/** The camera picker's value: the test pattern when chosen or when there is no camera. */
export function cameraValue(s: Settings, list: DeviceList): string {
  if (s.video_source === "test_pattern" || list.cameras.length === 0) return TEST_PATTERN;
  if (s.camera && list.cameras.some((c) => c.id === s.camera)) return s.camera;
  return list.cameras[0]!.id;
}

export function micValue(s: Settings, list: DeviceList): string {
  if (s.microphone === TONE) return TONE;
  if (s.microphone && list.microphones.some((m) => m.id === s.microphone)) return s.microphone;
  return list.microphones[0]?.id ?? SYSTEM_DEFAULT;
}

export function speakerValue(s: Settings, list: DeviceList): string {
  if (s.speaker && list.speakers.some((m) => m.id === s.speaker)) return s.speaker;
  return SYSTEM_DEFAULT;
}

export function cameraOptions(list: DeviceList): Option[] {
  return [...list.cameras.map((c) => ({ value: c.id, label: c.name || c.id })), { value: TEST_PATTERN, label: "Test pattern" }];
}

export function micOptions(list: DeviceList): Option[] {
  const mics = list.microphones.map((m) => ({ value: m.id, label: m.name || m.id }));
  if (mics.length === 0) mics.push({ value: SYSTEM_DEFAULT, label: "No microphone found" });
  return [...mics, { value: TONE, label: "Test tone" }];
}

export function speakerOptions(list: DeviceList): Option[] {
  return [{ value: SYSTEM_DEFAULT, label: "System default" }, ...list.speakers.map((m) => ({ value: m.id, label: m.name || m.id }))];
}

/** Settings after picking `value` in the camera picker. */
export function withCamera(s: Settings, value: string): Settings {
  return value === TEST_PATTERN ? { ...s, video_source: "test_pattern" } : { ...s, video_source: "camera", camera: value };
}

export function withMic(s: Settings, value: string): Settings {
  return { ...s, microphone: value === SYSTEM_DEFAULT ? null : value };
}

export function withSpeaker(s: Settings, value: string): Settings {
  return { ...s, speaker: value === SYSTEM_DEFAULT ? null : value };
}

/** The speaker picker's Test button: "Test", or "Playing…" and disabled while the chime plays. */
export function speakerTestButton(playing: boolean): { label: string; disabled: boolean } {
  return playing ? { label: "Playing…", disabled: true } : { label: "Test", disabled: false };
}

/** The pre-join "Hear yourself" toggle: its label and pressed state. */
export function hearYourselfButton(on: boolean): { label: string; pressed: boolean; title: string } {
  return on
    ? { label: "Stop hearing yourself", pressed: true, title: "Stop playing your microphone back" }
    : { label: "Hear yourself", pressed: false, title: "Play your microphone back as others will hear it (noise suppression and echo cancellation applied)" };
}

export function presetOf(s: Settings): VideoPreset {
  return (VIDEO_PRESETS as readonly string[]).includes(s.video_preset) ? (s.video_preset as VideoPreset) : "360p";
}

/**
 * Owns the device list and applies choices to the engine. Each call is
 * independent: a failing device never stops the others (UX.md §1).
 */
export class Devices {
  list: DeviceList = EMPTY_DEVICES;
  /** The list was asked for at least once (until then "no camera" means "not known yet"). */
  loaded = false;
  /** The speaker test chime is playing (one at a time). */
  testingSpeaker = false;
  /** The processed microphone is played back on the speaker ("Hear yourself"). */
  hearingSelf = false;
  private listeners = new Set<() => void>();

  constructor(
    private api: Api,
    private settings: () => Settings,
    private update: (s: Settings) => void,
    private onError: (e: CommandError, title: string) => void,
  ) {}

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  async refresh(): Promise<void> {
    try {
      const l = await this.api.listDevices();
      this.list = {
        cameras: Array.isArray(l?.cameras) ? l.cameras : [],
        microphones: Array.isArray(l?.microphones) ? l.microphones : [],
        speakers: Array.isArray(l?.speakers) ? l.speakers : [],
      };
    } catch (e) {
      this.onError(normaliseError(e), "Can't list your devices");
    }
    this.loaded = true;
    this.changed();
  }

  private async attempt(title: string, f: () => Promise<unknown>): Promise<boolean> {
    try {
      await f();
      return true;
    } catch (e) {
      this.onError(normaliseError(e), title);
      return false;
    }
  }

  /** Tells a fresh engine every choice (the session's `mediaSetup`). */
  async setup(api: Api = this.api): Promise<void> {
    await this.refresh();
    const s = this.settings();
    await this.attempt("Can't set the video quality", () => api.setVideoConfig(presetOf(s)));
    await this.applyCamera(cameraValue(s, this.list), api);
    await this.applyMic(micValue(s, this.list), api);
    const sp = speakerValue(s, this.list);
    if (sp !== SYSTEM_DEFAULT) await this.attempt("Can't use that speaker", () => api.useSpeakerDevice(sp));
    await this.attempt("Can't set the audio processing", () => api.setAudioProcessing(processingOf(s)));
  }

  private async applyCamera(value: string, api: Api): Promise<boolean> {
    if (value === TEST_PATTERN) return this.attempt("Can't show the test pattern", () => api.setVideoSource("test_pattern"));
    return (
      (await this.attempt("Can't switch to the camera", () => api.setVideoSource("camera"))) &&
      this.attempt("Can't use that camera", () => api.useVideoDevice(value))
    );
  }

  private async applyMic(value: string, api: Api): Promise<boolean> {
    if (value === TONE) return this.attempt("Can't play the test tone", () => api.setAudioSource("tone"));
    const ok = await this.attempt("Can't switch to the microphone", () => api.setAudioSource("microphone"));
    if (!ok || value === SYSTEM_DEFAULT) return ok;
    return this.attempt("Can't use that microphone", () => api.useAudioDevice(value));
  }

  /** `live`: an engine exists, so apply now (otherwise only remember). */
  async chooseCamera(value: string, live: boolean): Promise<void> {
    this.update(withCamera(this.settings(), value));
    if (live) await this.applyCamera(value, this.api);
    this.changed();
  }

  async chooseMic(value: string, live: boolean): Promise<void> {
    this.update(withMic(this.settings(), value));
    if (live) await this.applyMic(value, this.api);
    this.changed();
  }

  async chooseSpeaker(value: string, live: boolean): Promise<void> {
    this.update(withSpeaker(this.settings(), value));
    if (live) await this.attempt("Can't use that speaker", () => this.api.useSpeakerDevice(value === SYSTEM_DEFAULT ? null : value));
    this.changed();
  }

  /**
   * Plays the test chime on the speaker picked as `value` (UX.md §1) and
   * resolves when it has played; false when it failed (reported like the
   * other device errors) or a test is already playing.
   */
  async testSpeaker(value: string): Promise<boolean> {
    if (this.testingSpeaker) return false;
    this.testingSpeaker = true;
    this.changed();
    try {
      return await this.attempt("Can't play the test sound", () => this.api.testSpeaker(value === SYSTEM_DEFAULT ? null : value));
    } finally {
      this.testingSpeaker = false;
      this.changed();
    }
  }

  /**
   * Plays the processed microphone back on the speaker, or stops (the
   * pre-join "Hear yourself"); false when the engine refused (reported like
   * the other device errors; the toggle stays off).
   */
  async hearYourself(on: boolean): Promise<boolean> {
    if (on === this.hearingSelf) return true;
    const ok = await this.attempt(on ? "Can't play your microphone back" : "Can't stop playing your microphone back", () => this.api.setAudioLoopback(on));
    this.hearingSelf = ok ? on : false;
    this.changed();
    return ok;
  }

  /** Noise suppression or echo cancellation: remembered, and applied (with or without an engine). */
  async chooseProcessing(patch: Partial<AudioProcessing>): Promise<void> {
    const s = { ...this.settings(), ...patch };
    this.update(s);
    await this.attempt("Can't set the audio processing", () => this.api.setAudioProcessing(processingOf(s)));
    this.changed();
  }

  async choosePreset(preset: VideoPreset, live: boolean): Promise<void> {
    this.update({ ...this.settings(), video_preset: preset });
    if (live) await this.attempt("Can't set the video quality", () => this.api.setVideoConfig(preset));
    this.changed();
  }
}
