// Quality: the 3-bar indicator (UX.md §4) and the stats popover's rows.

import type { MediaPath, PlayStreamQuality, PublishStreamQuality, StreamQualityLevel, VideoLayer } from "./types.js";

export type QualityTone = "good" | "fair" | "poor" | "lost" | "unknown";

export interface Bars {
  bars: 0 | 1 | 2 | 3;
  tone: QualityTone;
  label: string;
}

/** Bars and colour for a level; never colour alone: the bar count and label say it too. */
export function barsFor(level: StreamQualityLevel | null | undefined): Bars {
  switch (level) {
    case "Excellent":
      return { bars: 3, tone: "good", label: "Excellent connection" };
    case "Good":
      return { bars: 3, tone: "good", label: "Good connection" };
    case "Medium":
      return { bars: 2, tone: "fair", label: "Fair connection" };
    case "Bad":
      return { bars: 1, tone: "poor", label: "Poor connection" };
    case "Die":
      return { bars: 0, tone: "lost", label: "Connection lost" };
    default:
      return { bars: 3, tone: "unknown", label: "Connection quality not measured yet" };
  }
}

/** Whether the indicator should stay visible without hover (UX.md §2: only when poor). */
export function isPoor(level: StreamQualityLevel | null | undefined): boolean {
  return level === "Medium" || level === "Bad" || level === "Die";
}

export type StatRow = [label: string, value: string];

const n0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–");
const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(x < 0.1 ? 1 : 0)} %` : "–");
const ms = (x: number): string => (x > 0 ? `${Math.round(x)} ms` : "–");
const res = (w: number, h: number): string => (w > 0 && h > 0 ? `${w}×${h}` : "–");

/** "+35 ms (in sync)": audio minus video; |x| < 200 ms counts as in sync. */
export function avSync(diffMs: number): string {
  if (!Number.isFinite(diffMs)) return "–";
  const r = Math.round(diffMs);
  const sign = r > 0 ? "+" : "";
  return `${sign}${r} ms (${Math.abs(r) < 200 ? "in sync" : r > 0 ? "audio ahead" : "video ahead"})`;
}

/**
 * The media path in words: "Direct (UDP)", "Direct over TCP (UDP blocked)",
 * "Relayed by TURN (UDP)"; "–" before ICE has chosen one.
 */
export function pathText(path: MediaPath | null | undefined): string {
  if (!path) return "–";
  const proto = path.protocol.toUpperCase();
  if (path.local === "relay" || path.remote === "relay") return `Relayed by TURN (${proto})`;
  return path.protocol === "tcp" ? "Direct over TCP (UDP blocked)" : `Direct (${proto})`;
}

/** The rows both directions start with: the connection, its path and the picture's size. */
function linkStats(q: PlayStreamQuality | PublishStreamQuality): StatRow[] {
  return [
    ["Connection", barsFor(q.level).label],
    ["Network path", pathText(q.path)],
    ["Resolution", res(q.width, q.height)],
  ];
}

/** The simulcast layer a tile asked for, in words: "Medium (mid-size tile)"; "–" before the first ask took. */
export function layerText(layer: VideoLayer | null): string {
  switch (layer) {
    case "low":
      return "Low (small tile)";
    case "medium":
      return "Medium (mid-size tile)";
    case "high":
      return "High (full size)";
    default:
      return "–";
  }
}

/** A played stream's rows; `layer` is the simulcast layer its tile asked for. */
export function playStats(q: PlayStreamQuality, layer: VideoLayer | null): StatRow[] {
  return [
    ...linkStats(q),
    ["Layer asked", layerText(layer)],
    ["Frame rate", `${n0(q.video_render_fps)} fps (received ${n0(q.video_recv_fps)})`],
    ["Bitrate ↓", `${n0(q.video_kbps)} kbps video, ${n0(q.audio_kbps)} kbps audio`],
    ["Round trip", ms(q.rtt_ms)],
    ["Packet loss ↓", pct(q.packet_loss_rate)],
    ["Jitter", ms(q.jitter_ms)],
    ["End-to-end delay", ms(q.end_to_end_delay_ms)],
    ["Audio MOS", q.mos > 0 ? q.mos.toFixed(1) : "–"],
    ["A/V sync", avSync(q.av_timestamp_diff_ms)],
    ["Video freezes", pct(q.video_break_rate)],
    ["Codec", q.video_codec || "–"],
  ];
}

export function publishStats(q: PublishStreamQuality): StatRow[] {
  return [
    ...linkStats(q),
    ["Frame rate", `${n0(q.video_send_fps)} fps (captured ${n0(q.video_capture_fps)})`],
    ["Bitrate ↑", `${n0(q.video_kbps)} kbps video, ${n0(q.audio_kbps)} kbps audio`],
    ["Target bitrate", q.target_kbps > 0 ? `${n0(q.target_kbps)} kbps` : "–"],
    ["Round trip", ms(q.rtt_ms)],
    ["Packet loss ↑", pct(q.packet_loss_rate)],
    ["Codec", q.video_codec || "–"],
  ];
}

/** The text Copy puts on the clipboard. */
export function statsText(title: string, rows: readonly StatRow[]): string {
  return [title, ...rows.map(([k, v]) => `${k}: ${v}`)].join("\n");
}
