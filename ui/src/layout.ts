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

/** 1 tile: yourself alone; 1 remote: remote fills the stage + self PiP; more: grid. */
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
}

/**
 * Lays `count` tiles out on the stage: the grid step sets how many tiles a
 * page holds; then the column count that gives the largest 16:9 video rect wins.
 */
export function fitGrid(input: GridInput): GridFit {
  const { count, width, height, gap, labelHeight } = input;
  const aspect = input.aspect ?? VIDEO_ASPECT;
  const n = Math.max(1, count);
  const portrait = height > width;
  let step = gridStep(n, width);
  // Two tiles on a portrait stage go one above the other.
  if (step.columns * step.rows === 2 && portrait) step = { columns: 1, rows: 2, minWidth: 0 };
  const perPage = step.columns * step.rows;
  const pages = Math.ceil(n / perPage);
  const onPage = Math.min(n, perPage);
  // Any shape that holds the page's tiles within the step's rows and the widest
  // step the stage allows: 3 tiles on a wide stage go in one row of 3.
  const maxColumns = Math.max(step.columns, ...GRID_STEPS.filter((g) => width >= g.minWidth).map((g) => g.columns));
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
    pages,
    videoHeight,
    tileWidth: Math.floor(videoHeight * aspect),
  };
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

/** The self-view picture-in-picture in the stage's bottom-right corner (spotlight mode). */
export function pipRect(stageWidth: number, stageHeight: number, margin = 16, aspect = VIDEO_ASPECT): Rect {
  const width = Math.round(Math.min(320, Math.max(144, stageWidth * 0.22), stageWidth / 2));
  const height = Math.round(width / aspect);
  return { x: stageWidth - width - margin, y: stageHeight - height - margin, width, height };
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
