// Pure grid maths for the call stage (UX.md §2): which layout, how many
// columns and rows, how big each 16:9 tile is, and pages.

export type StageMode = "solo" | "spotlight" | "grid";

/** A grid step: at most `columns` x `rows` tiles per page once the stage is `minWidth` px wide. */
export interface GridStep {
  columns: number;
  rows: number;
  minWidth: number;
}

/** LiveKit's steps (components-js core/src/helper/grid-layouts.ts). */
export const GRID_STEPS: readonly GridStep[] = [
  { columns: 1, rows: 1, minWidth: 0 },
  { columns: 2, rows: 1, minWidth: 0 },
  { columns: 2, rows: 2, minWidth: 560 },
  { columns: 3, rows: 3, minWidth: 700 },
  { columns: 4, rows: 4, minWidth: 960 },
  { columns: 5, rows: 5, minWidth: 1100 },
];

export const VIDEO_ASPECT = 16 / 9;

/** 1 tile: yourself alone; 1 remote: remote big + self view in the corner beside it; more: grid. */
export function stageMode(remoteCount: number): StageMode {
  if (remoteCount <= 0) return "solo";
  if (remoteCount === 1) return "spotlight";
  return "grid";
}

/**
 * The step for `n` tiles on a stage `width` px wide: the smallest step that
 * holds them all, or, when the stage is too narrow for it, the largest step
 * that fits (the rest goes on further pages).
 */
export function gridStep(n: number, width: number): GridStep {
  const fitting = GRID_STEPS.filter((s) => width >= s.minWidth);
  const holdsAll = fitting.find((s) => s.columns * s.rows >= n);
  return holdsAll ?? fitting[fitting.length - 1]!;
}

export interface GridFit {
  columns: number;
  rows: number;
  /** Tiles per page. */
  perPage: number;
  pages: number;
  /** CSS px of one tile's video rect. */
  tileWidth: number;
  videoHeight: number;
}

export interface GridInput {
  /** Tiles in total (self included). */
  count: number;
  width: number;
  height: number;
  /** Gap between tiles, px. */
  gap: number;
  /** Height of the label row under each video rect, px (labels stay outside the video: UX.md §7). */
  labelHeight: number;
  aspect?: number;
  /** A page holds no more rows than fit with video rects at least this tall (default 72 px); the rest is paged. */
  minVideoHeight?: number;
}

export const MIN_GRID_VIDEO_HEIGHT = 72;

/**
 * Lays `count` tiles out on the stage: the grid step (by width) sets how many
 * tiles a page holds, with no more rows than the stage's height allows; then
 * the column count that gives the largest 16:9 video rect wins. A bigger step
 * is taken when its tiles are just as big: paging only when it buys bigger tiles.
 */
export function fitGrid(input: GridInput): GridFit {
  const { count, width, height, gap, labelHeight } = input;
  const aspect = input.aspect ?? VIDEO_ASPECT;
  const n = Math.max(1, count);
  const portrait = height > width;
  // A short stage: fewer rows (more pages) rather than slivers of video or label rows cut off.
  const minVideo = input.minVideoHeight ?? MIN_GRID_VIDEO_HEIGHT;
  const maxRows = Math.max(1, Math.floor((height + gap) / (minVideo + labelHeight + gap)));
  const capped = (s: GridStep): GridStep => (s.rows > maxRows ? { ...s, rows: maxRows } : s);
  // Any shape within the step's rows and the widest step the stage allows: 3 tiles on a wide stage go in one row of 3.
  const widest = Math.max(...GRID_STEPS.filter((g) => width >= g.minWidth).map((g) => g.columns));
  const shape = (step: GridStep): GridFit => {
    const perPage = step.columns * step.rows;
    const onPage = Math.min(n, perPage);
    const maxColumns = Math.max(step.columns, widest);
    let best = { columns: 1, rows: onPage, videoHeight: -1 };
    for (let c = 1; c <= Math.min(maxColumns, onPage); c++) {
      const r = Math.ceil(onPage / c);
      if (r > step.rows) continue;
      const vh = videoHeightFor(c, r, width, height, gap, labelHeight, aspect);
      if (vh > best.videoHeight + 0.5) best = { columns: c, rows: r, videoHeight: vh };
    }
    const videoHeight = Math.max(0, Math.floor(best.videoHeight));
    return {
      columns: best.columns,
      rows: best.rows,
      perPage,
      pages: Math.ceil(n / perPage),
      videoHeight,
      tileWidth: Math.floor(videoHeight * aspect),
    };
  };

  let step = gridStep(n, width);
  // Two tiles on a portrait stage go one above the other.
  if (step.columns * step.rows === 2 && portrait) step = { columns: 1, rows: 2, minWidth: 0 };
  let fit = shape(capped(step));
  if (fit.pages > 1) {
    for (const g of GRID_STEPS) {
      const bigger = capped(g);
      if (bigger.columns * bigger.rows <= fit.perPage) continue;
      const f = shape(bigger);
      if (f.videoHeight >= fit.videoHeight) fit = f;
    }
  }
  return fit;
}

function videoHeightFor(c: number, r: number, w: number, h: number, gap: number, label: number, aspect: number): number {
  const cellW = (w - gap * (c - 1)) / c;
  const cellH = (h - gap * (r - 1)) / r - label;
  return Math.min(cellH, cellW / aspect);
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The largest rect of `aspect` that fits in `w` x `h`, centred. */
export function fitAspect(w: number, h: number, aspect = VIDEO_ASPECT): Rect {
  if (w <= 0 || h <= 0) return { x: 0, y: 0, width: 0, height: 0 };
  let width = w;
  let height = w / aspect;
  if (height > h) {
    height = h;
    width = h * aspect;
  }
  width = Math.floor(width);
  height = Math.floor(height);
  return { x: Math.floor((w - width) / 2), y: Math.floor((h - height) / 2), width, height };
}

/**
 * The 1:1 layout (UX.md §2): the remote picture as big as it can be, and the
 * self view in the bottom-right corner of what is left: never over the remote
 * picture, since native surfaces cover HTML and each other (UX.md §7).
 *
 * - `beside`: remote | self, the self tile's bottom (label included) on the
 *   remote label's line. Wins on wide stages.
 * - `below`: remote on top, the self tile under its right end, beside the
 *   remote's (shortened) label row. Wins on tall or narrow stages (a side
 *   panel open).
 *
 * The group is centred in the stage. Rects are whole CSS px in the stage's
 * content box; each tile's label row (`labelHeight`) lies under its video rect.
 */
export type SpotlightArrangement = "beside" | "below";

export interface SpotlightInput {
  width: number;
  height: number;
  gap: number;
  labelHeight: number;
  aspect?: number;
}

export interface SpotlightFit {
  arrangement: SpotlightArrangement;
  /** The remote tile's video rect. */
  main: Rect;
  /** The self tile's video rect. */
  self: Rect;
  /** Width of the remote tile's label row (in `below` it stops short of the self tile). */
  mainLabelWidth: number;
}

/** The remote label keeps at least this much width beside the self tile in `below`. */
export const MIN_LABEL_WIDTH = 120;

/** The self view's width: 18 % of the stage, 144-240 px, never more than half of it either way. */
export function selfViewWidth(stageWidth: number, stageHeight: number, labelHeight: number, aspect = VIDEO_ASPECT): number {
  const w = Math.min(240, Math.max(144, stageWidth * 0.18), stageWidth / 2, ((stageHeight - labelHeight) / 2) * aspect);
  return Math.max(0, Math.floor(w));
}

export function fitSpotlight(input: SpotlightInput): SpotlightFit {
  const { width: W, height: H, gap, labelHeight: L } = input;
  const aspect = input.aspect ?? VIDEO_ASPECT;
  const zero: Rect = { x: 0, y: 0, width: 0, height: 0 };
  if (W <= 0 || H <= 0) return { arrangement: "beside", main: zero, self: zero, mainLabelWidth: 0 };
  const sw = selfViewWidth(W, H, L, aspect);
  const sh = Math.floor(sw / aspect);
  const size = (maxW: number, maxH: number): { width: number; height: number } => {
    const height = Math.floor(Math.max(0, Math.min(maxH, maxW / aspect)));
    return { width: Math.floor(height * aspect), height };
  };

  const beside = size(W - gap - sw, H - L);
  const below = size(W, H - gap - sh - L);
  const belowFits = below.width - sw - gap >= MIN_LABEL_WIDTH;
  if (belowFits && below.height > beside.height) {
    const groupH = below.height + gap + sh + L;
    const x = Math.floor((W - below.width) / 2);
    const y = Math.floor((H - groupH) / 2);
    return {
      arrangement: "below",
      main: { x, y, ...below },
      self: { x: x + below.width - sw, y: y + below.height + gap, width: sw, height: sh },
      mainLabelWidth: below.width - sw - gap,
    };
  }
  const groupW = beside.width + gap + sw;
  const groupH = Math.max(beside.height, sh) + L;
  const x = Math.floor((W - groupW) / 2);
  const y = Math.floor((H - groupH) / 2);
  return {
    arrangement: "beside",
    main: { x, y: y + groupH - L - beside.height, ...beside },
    self: { x: x + beside.width + gap, y: y + groupH - L - sh, width: sw, height: sh },
    mainLabelWidth: beside.width,
  };
}

/** Clamps a page index into [0, pages). */
export function clampPage(page: number, pages: number): number {
  if (pages <= 1) return 0;
  return Math.min(Math.max(0, Math.floor(page)), pages - 1);
}

/** The items of page `page` (0-based). */
export function pageItems<T>(items: readonly T[], page: number, perPage: number): T[] {
  const p = clampPage(page, Math.ceil(items.length / perPage));
  return items.slice(p * perPage, p * perPage + perPage);
}

/**
 * Speaker view (UX.md §2 "focus"): one large stage tile and a strip of the
 * others, beside it (`side`: a column on the right, wide stages) or under it
 * (`bottom`: a row, tall or narrow stages), whichever gives the larger stage
 * picture. Strip tiles are 120-240 px wide; the strip holds as many as fit
 * (`perPage`), the rest is paged. Rects are whole CSS px in the stage's
 * content box; each tile's label row (`labelHeight`) lies under its video
 * rect and nothing overlaps (native surfaces cover HTML: UX.md §7).
 */
export type FocusArrangement = "side" | "bottom";

export interface FocusInput {
  width: number;
  height: number;
  gap: number;
  labelHeight: number;
  /** Tiles in the strip (everyone but the stage tile). */
  stripCount: number;
  aspect?: number;
}

export interface FocusFit {
  arrangement: FocusArrangement;
  /** The stage tile's video rect. */
  main: Rect;
  /** Video rects of the strip tiles on one page (at most `perPage`, at most `stripCount`). */
  strip: Rect[];
  /** Strip tiles per page (>= 1 when stripCount > 0). */
  perPage: number;
  pages: number;
}

export const MIN_STRIP_WIDTH = 120;
export const MAX_STRIP_WIDTH = 240;

export function fitFocus(input: FocusInput): FocusFit {
  const { width: W, height: H, gap, labelHeight: L } = input;
  const aspect = input.aspect ?? VIDEO_ASPECT;
  const n = Math.max(0, Math.floor(input.stripCount));
  const zero: Rect = { x: 0, y: 0, width: 0, height: 0 };
  const empty: FocusFit = { arrangement: "side", main: zero, strip: [], perPage: 0, pages: 1 };
  if (W <= 0 || H <= 0) return empty;
  const size = (maxW: number, maxH: number): { width: number; height: number } => {
    const height = Math.floor(Math.max(0, Math.min(maxH, maxW / aspect)));
    return { width: Math.floor(height * aspect), height };
  };
  if (n === 0) {
    const m = size(W, H - L);
    return { ...empty, main: { x: Math.floor((W - m.width) / 2), y: Math.floor((H - m.height - L) / 2), ...m } };
  }
  const base = Math.min(MAX_STRIP_WIDTH, Math.max(MIN_STRIP_WIDTH, W * 0.18));

  const side = (): FocusFit => {
    // A column on the right: strip tile no wider than a third of the stage, no taller than the stage.
    const tw = Math.floor(Math.max(0, Math.min(base, W / 3, (H - L) * aspect)));
    const th = Math.floor(tw / aspect);
    const per = Math.max(1, Math.min(n, Math.floor((H + gap) / (th + L + gap))));
    const m = size(W - gap - tw, H - L);
    const groupW = m.width + gap + tw;
    const x = Math.floor((W - groupW) / 2);
    const colH = per * (th + L) + (per - 1) * gap;
    const strip: Rect[] = [];
    const sy = Math.floor((H - colH) / 2);
    for (let i = 0; i < per; i++) strip.push({ x: x + m.width + gap, y: sy + i * (th + L + gap), width: tw, height: th });
    return { arrangement: "side", main: { x, y: Math.floor((H - m.height - L) / 2), ...m }, strip, perPage: per, pages: Math.ceil(n / per) };
  };

  const bottom = (): FocusFit => {
    // A row under the stage tile: strip tiles no taller than a third of the stage.
    const tw = Math.floor(Math.max(0, Math.min(base, W, ((H - 2 * L - gap) / 3) * aspect)));
    const th = Math.floor(tw / aspect);
    const per = Math.max(1, Math.min(n, Math.floor((W + gap) / (tw + gap))));
    const m = size(W, H - L - gap - th - L);
    const groupH = m.height + L + gap + th + L;
    const y = Math.floor((H - groupH) / 2);
    const rowW = per * tw + (per - 1) * gap;
    const sx = Math.floor((W - rowW) / 2);
    const strip: Rect[] = [];
    for (let i = 0; i < per; i++) strip.push({ x: sx + i * (tw + gap), y: y + m.height + L + gap, width: tw, height: th });
    return { arrangement: "bottom", main: { x: Math.floor((W - m.width) / 2), y, ...m }, strip, perPage: per, pages: Math.ceil(n / per) };
  };

  const a = side();
  const b = bottom();
  // The row only wins with strip tiles that stay readable.
  const bw = b.strip[0]?.width ?? 0;
  const aw = a.strip[0]?.width ?? 0;
  const pick = b.main.height > a.main.height && bw >= Math.min(aw, MIN_STRIP_WIDTH) ? b : a;
  return { ...pick, strip: pick.strip.slice(0, Math.min(n, pick.perPage)) };
}
