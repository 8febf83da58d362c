// SurfaceTracker: keeps the native video surfaces on top of their DOM slots.
// It watches every `.tile-video[data-tile-id]` (ResizeObserver, DOM changes,
// scroll, window resize, DPI changes), batches on requestAnimationFrame and
// sends `update_tiles` with device-pixel rects. Anything marked
// `[data-occluder]` (popovers, menus) hides the surfaces it overlaps; an open
// `[data-modal]` hides them all. For the canvas fallback it also draws the
// frames Rust pushes through a channel. Each measure also gives every
// played stream's tile size to `onSizes` (the simulcast layer it asks for:
// layer-caps.ts).

import type { Api, TauriChannel } from "./tauri.js";
import type { TileRect } from "./types.js";
import { computeTileRects, sameTiles, stackOrder, toDevice, type Box, type TileBox } from "./tile-rects.js";
import { parseFrame } from "./canvas-frame.js";
import type { TileSize } from "./layer-caps.js";

export const TILE_SELECTOR = ".tile-video[data-tile-id]";

export class SurfaceTracker {
  private resize = new ResizeObserver(() => this.schedule());
  private mutations = new MutationObserver(() => this.schedule());
  private observed = new Set<Element>();
  private frame = 0;
  private last: TileRect[] = [];
  private dprQuery: MediaQueryList | null = null;
  private failed = false;
  private readonly onChange = (): void => this.schedule();
  private readonly onDpr = (): void => {
    this.watchDpr();
    this.schedule();
  };

  constructor(
    private api: Pick<Api, "updateTiles">,
    private onError: (e: unknown) => void,
    private root: HTMLElement = document.body,
    private onSizes: (sizes: TileSize[]) => void = () => {},
  ) {}

  start(): void {
    this.mutations.observe(this.root, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["hidden", "class", "style", "open", "data-tile-id", "data-video-off", "data-occluder", "data-modal"],
    });
    this.resize.observe(this.root);
    window.addEventListener("resize", this.onChange);
    window.addEventListener("scroll", this.onChange, true);
    document.addEventListener("transitionend", this.onChange, true);
    document.addEventListener("animationend", this.onChange, true);
    this.watchDpr();
    this.schedule();
  }

  stop(): void {
    this.mutations.disconnect();
    this.resize.disconnect();
    this.observed.clear();
    window.removeEventListener("resize", this.onChange);
    window.removeEventListener("scroll", this.onChange, true);
    document.removeEventListener("transitionend", this.onChange, true);
    document.removeEventListener("animationend", this.onChange, true);
    this.dprQuery?.removeEventListener("change", this.onDpr);
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  /** Asks for a flush on the next animation frame (many calls, one update). */
  schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.flush();
    });
  }

  /** Measures every tile now and sends the list if it changed. */
  flush(): void {
    const elements = [...this.root.querySelectorAll<HTMLElement>(TILE_SELECTOR)];
    this.syncObserved(elements);
    const dpr = window.devicePixelRatio || 1;
    this.onSizes(elements.flatMap((el) => streamTileSize(el, dpr)));
    // Tiles flagged `data-stack-above` are listed last: later surfaces draw on top (no layout overlaps tiles today).
    const ordered: TileBox[] = stackOrder(elements.map((el) => ({ ...measure(el), above: el.closest("[data-stack-above]") !== null }))).map(
      ({ above: _above, ...box }) => box,
    );
    const occluders: Box[] = [...this.root.querySelectorAll<HTMLElement>("[data-occluder]")]
      .filter((el) => isRendered(el))
      .map((el) => box(el.getBoundingClientRect()));
    const suspended = [...this.root.querySelectorAll<HTMLElement>("[data-modal]")].some((el) => isRendered(el));
    const tiles = computeTileRects(ordered, {
      viewportWidth: document.documentElement.clientWidth,
      viewportHeight: document.documentElement.clientHeight,
      dpr,
      occluders,
      suspended,
    });
    if (sameTiles(tiles, this.last)) return;
    this.last = tiles;
    this.api.updateTiles(tiles).then(
      () => {
        this.failed = false;
      },
      (e) => {
        if (!this.failed) this.onError(e);
        this.failed = true;
      },
    );
  }

  private syncObserved(elements: HTMLElement[]): void {
    const now = new Set<Element>(elements);
    for (const el of this.observed) {
      if (!now.has(el)) {
        this.resize.unobserve(el);
        this.observed.delete(el);
      }
    }
    for (const el of elements) {
      if (!this.observed.has(el)) {
        this.resize.observe(el);
        this.observed.add(el);
      }
    }
  }

  private watchDpr(): void {
    this.dprQuery?.removeEventListener("change", this.onDpr);
    this.dprQuery = window.matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
    this.dprQuery.addEventListener("change", this.onDpr);
  }
}

function box(r: DOMRectReadOnly): Box {
  return { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
}

/** What a clipping ancestor shows of its content: its padding box, without borders or scrollbars. */
function clipBox(el: HTMLElement): Box {
  const r = el.getBoundingClientRect();
  const left = r.left + el.clientLeft;
  const top = r.top + el.clientTop;
  return { left, top, right: left + el.clientWidth, bottom: top + el.clientHeight };
}

/** Rendered and wanting video (its camera is not off). */
function wantsVideo(el: HTMLElement): boolean {
  return isRendered(el) && el.closest("[data-video-off]") === null;
}

function isRendered(el: HTMLElement): boolean {
  return el.isConnected && !el.closest("[hidden]") && el.getClientRects().length > 0;
}

/** A played stream's tile (`[data-stream-id]` around it) as layer-caps.ts takes it; none for other tiles. */
function streamTileSize(el: HTMLElement, dpr: number): TileSize[] {
  const tile = el.closest<HTMLElement>("[data-stream-id]");
  const streamId = tile?.dataset.streamId;
  if (!tile || !streamId) return [];
  const heightPx = toDevice(box(el.getBoundingClientRect()), dpr).height;
  return [{ streamId, heightPx, shown: wantsVideo(el), thumbnail: tile.dataset.place === "strip", share: tile.hasAttribute("data-share") }];
}

function measure(el: HTMLElement): TileBox {
  const rect = box(el.getBoundingClientRect());
  let clip: Box | null = null;
  for (let p = el.parentElement; p && p !== document.documentElement; p = p.parentElement) {
    const cs = getComputedStyle(p);
    if (cs.overflowX !== "visible" || cs.overflowY !== "visible") {
      const b = clipBox(p);
      clip = clip
        ? {
            left: Math.max(clip.left, b.left),
            top: Math.max(clip.top, b.top),
            right: Math.min(clip.right, b.right),
            bottom: Math.min(clip.bottom, b.bottom),
          }
        : b;
    }
  }
  return { tile_id: el.dataset.tileId ?? "", rect, clip, shown: wantsVideo(el) };
}

/**
 * Canvas fallback (diagnostics.render_path === "canvas"): a `<canvas>` in the
 * tile, fed by `attach_canvas`'s channel with `[u32 w, u32 h, rgba]` frames.
 */
export function attachCanvas(
  api: Pick<Api, "attachCanvas">,
  newChannel: () => TauriChannel<unknown>,
  videoEl: HTMLElement,
  tileId: string,
): Promise<unknown> {
  let canvas = videoEl.querySelector<HTMLCanvasElement>("canvas.tile-canvas");
  if (!canvas) {
    canvas = document.createElement("canvas");
    canvas.className = "tile-canvas";
    canvas.setAttribute("aria-hidden", "true");
    videoEl.append(canvas);
  }
  const ctx = canvas.getContext("2d");
  const channel = newChannel();
  const target = canvas;
  channel.onmessage = (message) => {
    const frame = parseFrame(message);
    if (!frame || !ctx) return;
    if (target.width !== frame.width) target.width = frame.width;
    if (target.height !== frame.height) target.height = frame.height;
    ctx.putImageData(new ImageData(frame.pixels, frame.width, frame.height), 0, 0);
  };
  return api.attachCanvas(tileId, channel);
}
