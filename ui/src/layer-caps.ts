// Which simulcast layer each played stream asks for (issue 15 part 2): the
// highest layer worth receiving for the size its tile is drawn at, with
// hysteresis (a tile near a threshold does not flip between layers) and a
// settling time (a window being resized passes through many sizes; only the
// size it stays at is asked for). The app (ui/src/tiles.ts) and the server's
// web debug page (server/web/build.mjs copies this file beside its engine)
// ask the same way.

import type { VideoLayer } from "./generated/protocol.js";

/** From this tile height (device pixels) up, the medium layer (360p of a 720p source) is worth it. */
export const MEDIUM_FROM_PX = 240;
/** From this tile height (device pixels) up, the high layer is worth it. */
export const HIGH_FROM_PX = 480;
/** Hysteresis: a tile drops a layer only below this share of the height that raised it. */
export const DOWN_SHARE = 0.85;
/** How long a new wanted layer must hold before it is asked for. */
export const SETTLE_MS = 500;

const RANK: Record<VideoLayer, number> = { low: 0, medium: 1, high: 2 };

function byThresholds(heightPx: number, share: number): VideoLayer {
  if (heightPx >= HIGH_FROM_PX * share) return "high";
  if (heightPx >= MEDIUM_FROM_PX * share) return "medium";
  return "low";
}

/**
 * The layer for a tile `heightPx` device pixels high, given the one it has
 * now (null: none yet). Up at the thresholds (< 240 px low, < 480 medium,
 * else high); down only below 85 % of them.
 */
export function layerForHeight(heightPx: number, current: VideoLayer | null): VideoLayer {
  const up = byThresholds(heightPx, 1);
  if (current === null || RANK[up] > RANK[current]) return up;
  const down = byThresholds(heightPx, DOWN_SHARE);
  return RANK[down] < RANK[current] ? down : current;
}

/** One played stream's tile as measured. */
export interface TileSize {
  streamId: string;
  /** The video rect's height in device pixels. */
  heightPx: number;
  /** Rendered and wanting video (not hidden, not on another page, camera not off). */
  shown: boolean;
  /** A thumbnail (the speaker view's strip): the low layer whatever its size. */
  thumbnail: boolean;
}

/** The layer a tile wants, given the one asked for now. */
export function wantedLayer(t: TileSize, current: VideoLayer | null): VideoLayer {
  if (!t.shown || t.thumbnail) return "low";
  return layerForHeight(t.heightPx, current);
}

/** The clock and timer `LayerCaps` runs on (the browser's by default; tests pass a fake). */
export interface CapsClock {
  now(): number;
  setTimeout(f: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}

const browserClock: CapsClock = {
  now: () => performance.now(),
  setTimeout: (f, ms) => setTimeout(f, ms),
  clearTimeout: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
};

/**
 * Asks for each played stream's layer as its tile's size changes. The first
 * size of a stream is asked for at once; a different layer afterwards only
 * once it has been wanted for `SETTLE_MS`. A refused ask is forgotten, so
 * the next `update` asks again (e.g. a stream whose play had not started).
 */
export class LayerCaps {
  /** The layer last asked for, by stream ID (while the ask is under way too). */
  private asked = new Map<string, VideoLayer>();
  /** A different layer wanted since: asked once it has held `SETTLE_MS`. */
  private pending = new Map<string, { layer: VideoLayer; since: number }>();
  private timer: unknown = null;

  constructor(
    private readonly ask: (streamId: string, layer: VideoLayer) => Promise<unknown>,
    private readonly onRefused: (streamId: string, layer: VideoLayer, e: unknown) => void,
    private readonly clock: CapsClock = browserClock,
  ) {}

  /** The layer asked for a stream (undefined before the first ask). */
  cap(streamId: string): VideoLayer | undefined {
    return this.asked.get(streamId);
  }

  /** Takes the sizes of every played stream's tile now; streams left out are forgotten. */
  update(tiles: readonly TileSize[]): void {
    const now = this.clock.now();
    const seen = new Set<string>();
    for (const t of tiles) {
      seen.add(t.streamId);
      const asked = this.asked.get(t.streamId);
      const want = wantedLayer(t, asked ?? null);
      if (asked === undefined) this.send(t.streamId, want);
      else if (want === asked) this.pending.delete(t.streamId);
      else if (this.pending.get(t.streamId)?.layer !== want) this.pending.set(t.streamId, { layer: want, since: now });
    }
    for (const id of [...this.asked.keys()]) if (!seen.has(id)) this.asked.delete(id);
    for (const id of [...this.pending.keys()]) if (!seen.has(id)) this.pending.delete(id);
    this.settle();
  }

  /** Forgets everything (leaving the call). */
  clear(): void {
    this.asked.clear();
    this.pending.clear();
    this.settle();
  }

  /** Asks for the pending layers that have held long enough; re-arms the timer for the rest. */
  private settle(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const now = this.clock.now();
    let next = Infinity;
    for (const [id, p] of [...this.pending]) {
      const due = p.since + SETTLE_MS;
      if (due <= now) this.send(id, p.layer);
      else next = Math.min(next, due);
    }
    if (next !== Infinity) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = null;
        this.settle();
      }, next - now);
    }
  }

  private send(streamId: string, layer: VideoLayer): void {
    this.asked.set(streamId, layer);
    this.pending.delete(streamId);
    this.ask(streamId, layer).catch((e: unknown) => {
      if (this.asked.get(streamId) === layer) this.asked.delete(streamId);
      this.onRefused(streamId, layer, e);
    });
  }
}
