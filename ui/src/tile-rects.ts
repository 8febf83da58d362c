// Pure part of the surface tracker: CSS-pixel boxes in, the contract's
// device-pixel `TileRect`s out, with visibility decided by clipping, the
// viewport, and anything drawn over the tile (native surfaces cover HTML:
// UX.md §7, so a tile under a popover or modal must hide its surface).

import type { TileRect } from "./types.js";

export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export interface TileBox {
  tile_id: string;
  /** The video rect, CSS px relative to the viewport. */
  rect: Box;
  /** The intersection of its clipping ancestors (overflow != visible), or null when none clips. */
  clip: Box | null;
  /** Rendered and wanting video (not display:none, not camera-off). */
  shown: boolean;
}

export interface Frame {
  viewportWidth: number;
  viewportHeight: number;
  dpr: number;
  /** Boxes of popovers, menus and dialogs drawn over the stage. */
  occluders: Box[];
  /** A modal covers everything: every surface hides. */
  suspended: boolean;
}

const EPS = 0.5;

export function intersects(a: Box, b: Box): boolean {
  return a.left < b.right - EPS && b.left < a.right - EPS && a.top < b.bottom - EPS && b.top < a.bottom - EPS;
}

export function contains(outer: Box, inner: Box): boolean {
  return (
    inner.left >= outer.left - EPS &&
    inner.top >= outer.top - EPS &&
    inner.right <= outer.right + EPS &&
    inner.bottom <= outer.bottom + EPS
  );
}

/** Device-pixel rect of a CSS box: edges are rounded so adjacent tiles stay adjacent. */
export function toDevice(b: Box, dpr: number): { x: number; y: number; width: number; height: number } {
  const x = Math.round(b.left * dpr);
  const y = Math.round(b.top * dpr);
  return {
    x,
    y,
    width: Math.max(0, Math.round(b.right * dpr) - x),
    height: Math.max(0, Math.round(b.bottom * dpr) - y),
  };
}

/**
 * The `update_tiles` list. A tile is visible only when it is shown, has an
 * area, lies wholly inside its clipping ancestors and the viewport (a native
 * surface cannot be clipped by HTML), and nothing is drawn over it.
 */
export function computeTileRects(tiles: readonly TileBox[], frame: Frame): TileRect[] {
  const viewport: Box = { left: 0, top: 0, right: frame.viewportWidth, bottom: frame.viewportHeight };
  return tiles.map((t) => {
    const d = toDevice(t.rect, frame.dpr);
    const visible =
      t.shown &&
      !frame.suspended &&
      d.width > 0 &&
      d.height > 0 &&
      (t.clip === null || contains(t.clip, t.rect)) &&
      contains(viewport, t.rect) &&
      !frame.occluders.some((o) => intersects(o, t.rect));
    return { tile_id: t.tile_id, ...d, visible };
  });
}

/** Whether two update lists are the same (so an unchanged layout is not re-sent). */
export function sameTiles(a: readonly TileRect[], b: readonly TileRect[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((t, i) => {
    const u = b[i]!;
    return (
      t.tile_id === u.tile_id &&
      t.x === u.x &&
      t.y === u.y &&
      t.width === u.width &&
      t.height === u.height &&
      t.visible === u.visible
    );
  });
}

/** Orders surfaces for stacking: tiles marked `above` (`data-stack-above`) go last so they draw on top. No layout overlaps tiles today (UX.md §7); this keeps the contract's stacking rule for one that would. */
export function stackOrder<T extends { above: boolean }>(tiles: readonly T[]): T[] {
  return [...tiles.filter((t) => !t.above), ...tiles.filter((t) => t.above)];
}
