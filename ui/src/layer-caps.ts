// Which simulcast layer each played stream asks for (issue 15 part 2): the
// highest layer worth receiving for the size its tile is drawn at, with
// hysteresis (a tile near a threshold does not flip between layers) and a
// settling time (a window being resized passes through many sizes; only the
// size it stays at is asked for). The app (ui/src/tiles.ts) and the server's
// web debug page (server/web/build.mjs copies this file beside its engine)
// ask the same way.

import type { VideoLayer } from "./generated/protocol.js";

/**
 * From this tile height (device pixels) up, the medium layer (360p of a 720p
 * source) is worth it: below, the low layer (180p) is upscaled at most 1.1x.
 */
export const MEDIUM_FROM_PX = 200;
/** From this tile height (device pixels) up, the high layer is worth it (360p would be upscaled > 1.1x). */
export const HIGH_FROM_PX = 400;
/** Hysteresis: a tile drops a layer only below this share of the height that raised it. */
export const DOWN_SHARE = 0.85;
/** How long a new wanted layer must hold before it is asked for. */
export const SETTLE_MS = 500;
/** How long after a refused ask (say, a play not started yet) it is asked again. */
export const RETRY_MS = 1_000;

const RANK: Record<VideoLayer, number> = { low: 0, medium: 1, high: 2 };

function byThresholds(heightPx: number, share: number): VideoLayer {
  if (heightPx >= HIGH_FROM_PX * share) return "high";
  if (heightPx >= MEDIUM_FROM_PX * share) return "medium";
  return "low";
}

/**
 * The layer for a tile `heightPx` device pixels high, given the one it has
 * now (null: none yet). Up at the thresholds (< 200 px low, < 400 medium,
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
  /** A shared screen: the high layer wherever it is shown (small text must stay readable). */
  share?: boolean;
}

/** The layer a tile wants, given the one asked for now. */
export function wantedLayer(t: TileSize, current: VideoLayer | null): VideoLayer {
  if (!t.shown) return "low";
  if (t.share) return "high";
  if (t.thumbnail) return "low";
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
 * once it has been wanted for `SETTLE_MS`. A refused ask (e.g. a stream
 * whose play had not started) is asked again `RETRY_MS` later, not at every
 * measure in between (the tracker measures on every DOM change).
 */
export class LayerCaps {
  /** The layer last asked for, by stream ID (while the ask is under way too). */
  private asked = new Map<string, VideoLayer>();
  /** A different layer wanted since: asked once it has held `SETTLE_MS`. */
  private pending = new Map<string, { layer: VideoLayer; since: number }>();
  /** Streams whose last ask was refused: when to ask again. */
  private retryAt = new Map<string, number>();
  /** The last size of each stream's tile. */
  private sizes = new Map<string, TileSize>();
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
    this.sizes = new Map(tiles.map((t) => [t.streamId, t]));
    for (const t of tiles) {
      const asked = this.asked.get(t.streamId);
      const want = wantedLayer(t, asked ?? null);
      if (asked === undefined) {
        if (!this.retryAt.has(t.streamId)) this.send(t.streamId, want);
      } else if (want === asked) this.pending.delete(t.streamId);
      else if (this.pending.get(t.streamId)?.layer !== want) this.pending.set(t.streamId, { layer: want, since: now });
    }
    for (const m of [this.asked, this.pending, this.retryAt]) for (const id of [...m.keys()]) if (!this.sizes.has(id)) m.delete(id);
    this.settle();
  }

  /**
   * Asks for the pending layers that have held long enough and again for
   * refused ones whose wait is over; re-arms the timer for the rest.
   */
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
    for (const [id, due] of [...this.retryAt]) {
      const size = this.sizes.get(id);
      if (due <= now && size) this.send(id, wantedLayer(size, null));
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
    this.retryAt.delete(streamId);
    this.ask(streamId, layer).catch((e: unknown) => {
      this.onRefused(streamId, layer, e);
      // A later ask (or a forgotten tile) supersedes the refusal.
      if (this.asked.get(streamId) !== layer) return;
      this.asked.delete(streamId);
      this.retryAt.set(streamId, this.clock.now() + RETRY_MS);
      this.settle();
    });
  }
}
