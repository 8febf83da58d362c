// Audio processing choices (docs/app-contract.md `AudioProcessing`): the
// "Noise suppression" and "Echo cancellation" pickers of the home screen and
// the call's microphone menu, kept in the settings and sent to the app with
// set_audio_processing (which applies them to the engine at once and to every
// engine made later).

import type { Option } from "./devices.js";
import type { AudioProcessing, EchoCancellation, NoiseSuppression, Settings } from "./types.js";

export const NOISE_SUPPRESSION_OPTIONS: readonly Option[] = [
  { value: "off", label: "Off" },
  { value: "standard", label: "Standard" },
  { value: "strong", label: "Strong" },
  { value: "ai", label: "AI (RNNoise)" },
];

export const ECHO_CANCELLATION_OPTIONS: readonly Option[] = [
  { value: "on", label: "On" },
  { value: "speakers_only", label: "On, not with headphones" },
  { value: "off", label: "Off" },
];

/** The defaults: what the SDK starts with (both on). */
export const DEFAULT_AUDIO_PROCESSING: AudioProcessing = { noise_suppression: "standard", echo_cancellation: "on" };

const has = (options: readonly Option[], v: unknown): boolean => options.some((o) => o.value === v);

/** A noise suppression value from anything (the default when unknown). */
export function noiseSuppressionOf(v: unknown): NoiseSuppression {
  return has(NOISE_SUPPRESSION_OPTIONS, v) ? (v as NoiseSuppression) : DEFAULT_AUDIO_PROCESSING.noise_suppression;
}

/** An echo cancellation value from anything (the default when unknown). */
export function echoCancellationOf(v: unknown): EchoCancellation {
  return has(ECHO_CANCELLATION_OPTIONS, v) ? (v as EchoCancellation) : DEFAULT_AUDIO_PROCESSING.echo_cancellation;
}

/** The choices the settings hold, as set_audio_processing takes them. */
export function processingOf(s: Settings): AudioProcessing {
  return { noise_suppression: s.noise_suppression, echo_cancellation: s.echo_cancellation };
}
