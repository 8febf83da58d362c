// Synthetic media for machines without a camera (and for tests): a canvas
// test pattern stamped with media-core's barcode (frame number + capture
// time) and a sine tone from an OscillatorNode.

import { bandHeight, draw, nowUs } from "./barcode.js";

export interface TestPatternOptions {
  width: number;
  height: number;
  fps: number;
  /** A label drawn in the picture (e.g. the user ID). */
  label: string;
}

/** A running canvas test pattern. */
export class TestPattern {
  readonly canvas: HTMLCanvasElement;
  readonly track: MediaStreamTrack;
  /** Frames drawn so far (the next frame's number). */
  frameNumber = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly ctx: CanvasRenderingContext2D;

  constructor(private readonly options: TestPatternOptions) {
    this.canvas = document.createElement("canvas");
    this.canvas.width = options.width;
    this.canvas.height = options.height;
    const ctx = this.canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("no 2D canvas");
    this.ctx = ctx;
    // Frames are pushed one by one (requestFrame), so each drawn frame
    // number is one captured frame.
    const stream = this.canvas.captureStream(0);
    const track = stream.getVideoTracks()[0];
    if (!track) throw new Error("canvas capture gave no track");
    this.track = track;
    this.drawFrame();
    this.timer = setInterval(() => this.drawFrame(), 1000 / options.fps);
  }

  private drawFrame(): void {
    const { width: w, height: h } = this.options;
    const ctx = this.ctx;
    const n = this.frameNumber++;
    const band = bandHeight(w);
    // A drifting gradient and a bouncing box, like the native pattern.
    const phase = (n * 3) % 512;
    const g = ctx.createLinearGradient(-phase, 0, w + 512 - phase, h);
    g.addColorStop(0, "#2b4c7e");
    g.addColorStop(0.5, "#5f8fbf");
    g.addColorStop(1, "#2b4c7e");
    ctx.fillStyle = g;
    ctx.fillRect(0, 0, w, h);
    const box = Math.round(h / 5);
    const span = Math.max(1, w - box);
    const x = Math.abs(((n * 6) % (2 * span)) - span);
    const y = band + Math.round((h - band - box) / 2 + Math.sin(n / 15) * (h - band - box) * 0.35);
    ctx.fillStyle = "#f2b134";
    ctx.fillRect(x, y, box, box);
    ctx.fillStyle = "rgba(0,0,0,0.45)";
    ctx.fillRect(0, h - 34, w, 34);
    ctx.fillStyle = "#ffffff";
    ctx.font = "16px system-ui, sans-serif";
    const time = new Date().toISOString().slice(11, 23);
    ctx.fillText(`${this.options.label}  ·  frame ${n}  ·  ${time}`, 12, h - 12);
    draw(ctx, w, h, { frameNumber: n, captureTimeUs: nowUs() });
    const t = this.track as MediaStreamTrack & { requestFrame?: () => void };
    t.requestFrame?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.track.stop();
  }
}

/** A running sine tone. */
export class Tone {
  readonly track: MediaStreamTrack;
  private readonly osc: OscillatorNode;

  constructor(
    private readonly context: AudioContext,
    frequencyHz: number,
  ) {
    this.osc = context.createOscillator();
    this.osc.type = "sine";
    this.osc.frequency.value = frequencyHz;
    const gain = context.createGain();
    gain.gain.value = 0.3;
    const dest = context.createMediaStreamDestination();
    this.osc.connect(gain).connect(dest);
    this.osc.start();
    const track = dest.stream.getAudioTracks()[0];
    if (!track) throw new Error("no audio track from the tone");
    this.track = track;
  }

  stop(): void {
    this.osc.stop();
    this.track.stop();
    void this.context;
  }
}
