import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { computeTileRects, sameTiles, stackOrder, toDevice, type Frame, type TileBox } from "../src/tile-rects.js";

const frame = (more: Partial<Frame> = {}): Frame => ({ viewportWidth: 1100, viewportHeight: 720, dpr: 1, occluders: [], suspended: false, ...more });
const tile = (id: string, left: number, top: number, w: number, h: number, more: Partial<TileBox> = {}): TileBox => ({
  tile_id: id, rect: { left, top, right: left + w, bottom: top + h }, clip: null, shown: true, ...more,
});

describe("tile rects for update_tiles", () => {
  it("converts CSS px to device px with the devicePixelRatio", () => {
    const [t] = computeTileRects([tile("a", 10, 20, 320, 180)], frame({ dpr: 2 }));
    assert.deepEqual(t, { tile_id: "a", x: 20, y: 40, width: 640, height: 360, visible: true });
  });

  it("rounds edges so neighbours stay adjacent at fractional DPR", () => {
    const a = toDevice({ left: 0, top: 0, right: 100.3, bottom: 50 }, 1.25);
    const b = toDevice({ left: 100.3, top: 0, right: 200.6, bottom: 50 }, 1.25);
    assert.equal(a.x + a.width, b.x);
  });

  it("hidden, zero-size, off-screen or clipped tiles are sent with visible=false", () => {
    const out = computeTileRects(
      [
        tile("hidden", 0, 0, 100, 100, { shown: false }),
        tile("empty", 0, 0, 0, 0),
        tile("offscreen", 1050, 0, 100, 100),
        tile("clipped", 0, 0, 100, 100, { clip: { left: 0, top: 0, right: 50, bottom: 100 } }),
        tile("inside", 0, 0, 100, 100, { clip: { left: 0, top: 0, right: 100, bottom: 100 } }),
      ],
      frame(),
    );
    assert.deepEqual(out.map((t) => [t.tile_id, t.visible]), [["hidden", false], ["empty", false], ["offscreen", false], ["clipped", false], ["inside", true]]);
  });

  it("a popover hides only the tiles it overlaps; a modal hides all", () => {
    const tiles = [tile("left", 0, 0, 400, 225), tile("right", 420, 0, 400, 225)];
    const pop = computeTileRects(tiles, frame({ occluders: [{ left: 300, top: 100, right: 410, bottom: 300 }] }));
    assert.deepEqual(pop.map((t) => t.visible), [false, true]);
    const touching = computeTileRects(tiles, frame({ occluders: [{ left: 400, top: 0, right: 420, bottom: 50 }] }));
    assert.deepEqual(touching.map((t) => t.visible), [true, true], "a popover in the gap hides nothing");
    const modal = computeTileRects(tiles, frame({ suspended: true }));
    assert.deepEqual(modal.map((t) => t.visible), [false, false]);
  });

  it("sameTiles detects any change", () => {
    const a = computeTileRects([tile("a", 0, 0, 10, 10)], frame());
    assert.equal(sameTiles(a, computeTileRects([tile("a", 0, 0, 10, 10)], frame())), true);
    assert.equal(sameTiles(a, computeTileRects([tile("a", 1, 0, 10, 10)], frame())), false);
    assert.equal(sameTiles(a, computeTileRects([tile("a", 0, 0, 10, 10)], frame({ suspended: true }))), false);
    assert.equal(sameTiles(a, []), false);
  });

  it("stackOrder puts tiles marked above last", () => {
    const order = stackOrder([{ id: "pip", above: true }, { id: "remote", above: false }]);
    assert.deepEqual(order.map((t) => t.id), ["remote", "pip"]);
  });
});

import { placePopover } from "../src/ui/popover.js";

describe("popover placement", () => {
  const viewport = { width: 1100, height: 720 };
  const size = { width: 300, height: 200 };
  it("goes above the anchor, centred, when that covers no video", () => {
    const anchor = { left: 500, top: 650, right: 548, bottom: 698 };
    assert.deepEqual(placePopover(anchor, size, viewport, []), { left: 374, top: 442 });
  });
  it("moves to where it covers the least video", () => {
    // A badge under the left tile; the right half of the window is free.
    const anchor = { left: 500, top: 400, right: 530, bottom: 426 };
    const videos = [{ left: 0, top: 0, right: 540, bottom: 390 }, { left: 0, top: 440, right: 540, bottom: 700 }];
    const p = placePopover(anchor, size, viewport, videos);
    assert.equal(p.left, 538, "right of the anchor");
    assert.ok(p.left >= 530);
  });
  it("stays inside the window", () => {
    const p = placePopover({ left: 1080, top: 5, right: 1100, bottom: 25 }, size, viewport, []);
    assert.ok(p.left + size.width <= viewport.width - 8 && p.top >= 8);
  });
});
