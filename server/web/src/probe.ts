// Measurements on played streams: the barcode of each presented video frame
// (read from a canvas copy of the <video>) and the dominant frequency of the
// audio (an AnalyserNode). The page shows them; tests and the bench read
// them through window.conferDebug.

import { bandHeight, nowUs, read } from "./barcode.js";

/** One decoded stamp. */
export interface FrameRead {
  frameNumber: number;
  captureTimeUs: number;
  /** Presentation time minus capture time, milliseconds. */
  latencyMs: number;
  /** When it was presented, Unix microseconds. */
  presentedUs: number;
}

const MAX_READS = 4000;

type FrameCallbackVideo = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: (now: number, meta: unknown) => void) => number;
  cancelVideoFrameCallback?: (handle: number) => void;
};

/** Reads the stamp of every frame a <video> presents. */
export class VideoProbe {
  readonly reads: FrameRead[] = [];
  /** Frames presented (with or without a readable stamp). */
  presented = 0;
  private canvas: OffscreenCanvas | null = null;
  private ctx: OffscreenCanvasRenderingContext2D | null = null;
  private handle: number | null = null;
  private stopped = false;

  /** `onFirstFrame` runs once, as the first frame is presented (not on a timer). */
  constructor(
    private readonly video: HTMLVideoElement,
    private readonly onFirstFrame: () => void = () => {},
  ) {
    this.schedule();
  }

  private schedule(): void {
    const v = this.video as FrameCallbackVideo;
    if (this.stopped) return;
    if (v.requestVideoFrameCallback) {
      this.handle = v.requestVideoFrameCallback(() => {
        this.onFrame();
        this.schedule();
      });
    } else {
      // Firefox before 132: sample on animation frames.
      this.handle = requestAnimationFrame(() => {
        this.onFrame();
        this.schedule();
      });
    }
  }

  private onFrame(): void {
    const v = this.video;
    const w = v.videoWidth;
    const band = bandHeight(w);
    if (w === 0 || band === 0 || v.videoHeight < band) return;
    this.presented++;
    if (this.presented === 1) this.onFirstFrame();
    if (!this.canvas || this.canvas.width !== w || this.canvas.height !== band) {
      this.canvas = new OffscreenCanvas(w, band);
      this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    }
    const ctx = this.ctx;
    if (!ctx) return;
    const at = nowUs();
    ctx.drawImage(v, 0, 0, w, band, 0, 0, w, band);
    const pixels = ctx.getImageData(0, 0, w, band).data;
    const stamp = read(pixels, w, band, at);
    if (!stamp) return;
    const last = this.reads[this.reads.length - 1];
    if (last && last.frameNumber === stamp.frameNumber) return;
    this.reads.push({
      frameNumber: stamp.frameNumber,
      captureTimeUs: stamp.captureTimeUs,
      latencyMs: (at - stamp.captureTimeUs) / 1000,
      presentedUs: at,
    });
    if (this.reads.length > MAX_READS) this.reads.splice(0, this.reads.length - MAX_READS);
  }

  /** The latest read, if any. */
  get last(): FrameRead | null {
    return this.reads[this.reads.length - 1] ?? null;
  }

  stop(): void {
    this.stopped = true;
    const v = this.video as FrameCallbackVideo;
    if (this.handle !== null) {
      if (v.cancelVideoFrameCallback) v.cancelVideoFrameCallback(this.handle);
      else cancelAnimationFrame(this.handle);
    }
  }
}

/** The dominant frequency and level of an audio track. */
export class AudioProbe {
  private readonly analyser: AnalyserNode;
  private readonly source: MediaStreamAudioSourceNode;

  constructor(context: AudioContext, stream: MediaStream) {
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = 16384;
    this.analyser.smoothingTimeConstant = 0;
    this.source = context.createMediaStreamSource(stream);
    this.source.connect(this.analyser);
  }

  /** The strongest frequency in 40 Hz - 10 kHz and the RMS level (0..1). */
  measure(): { frequencyHz: number; rms: number } {
    const a = this.analyser;
    const spectrum = new Float32Array(a.frequencyBinCount);
    a.getFloatFrequencyData(spectrum);
    const time = new Float32Array(a.fftSize);
    a.getFloatTimeDomainData(time);
    let sum = 0;
    for (const s of time) sum += s * s;
    const rms = Math.sqrt(sum / time.length);
    const binHz = a.context.sampleRate / a.fftSize;
    const lo = Math.max(1, Math.floor(40 / binHz));
    const hi = Math.min(spectrum.length - 2, Math.ceil(10_000 / binHz));
    let peak = lo;
    for (let i = lo; i <= hi; i++) if (spectrum[i]! > spectrum[peak]!) peak = i;
    // Parabolic interpolation around the peak (dB values).
    const [l, c, r] = [spectrum[peak - 1]!, spectrum[peak]!, spectrum[peak + 1]!];
    const denom = l - 2 * c + r;
    const offset = Number.isFinite(denom) && denom !== 0 ? (0.5 * (l - r)) / denom : 0;
    const frequencyHz = rms > 1e-4 ? (peak + Math.max(-0.5, Math.min(0.5, offset))) * binHz : 0;
    return { frequencyHz, rms };
  }

  stop(): void {
    this.source.disconnect();
  }
}

/** Percentile (0..100) of numbers, nearest rank; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
