import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { clampPage, fitAspect, fitGrid, gridStep, pageItems, pipRect, stageMode } from "../src/layout.js";

describe("stage mode", () => {
  it("alone: solo; one remote: spotlight (remote big + self PiP); more: grid", () => {
    assert.equal(stageMode(0), "solo");
    assert.equal(stageMode(1), "spotlight");
    assert.equal(stageMode(2), "grid");
    assert.equal(stageMode(12), "grid");
  });
});

describe("grid steps (LiveKit's: 2x2 from 560 px, 3x3 from 700, 4x4 from 960, 5x5 from 1100)", () => {
  it("picks the smallest step that holds every tile when the stage is wide enough", () => {
    assert.deepEqual([gridStep(1, 2000).columns, gridStep(1, 2000).rows], [1, 1]);
    assert.deepEqual([gridStep(2, 2000).columns, gridStep(2, 2000).rows], [2, 1]);
    assert.deepEqual([gridStep(3, 600).columns, gridStep(3, 600).rows], [2, 2]);
    assert.deepEqual([gridStep(5, 700).columns, gridStep(5, 700).rows], [3, 3]);
    assert.deepEqual([gridStep(10, 960).columns, gridStep(10, 960).rows], [4, 4]);
    assert.deepEqual([gridStep(17, 1100).columns, gridStep(17, 1100).rows], [5, 5]);
  });

  it("falls back to the largest step that fits a narrow stage (the rest is paged)", () => {
    assert.deepEqual([gridStep(5, 699).columns, gridStep(5, 699).rows], [2, 2]);
    assert.deepEqual([gridStep(3, 559).columns, gridStep(3, 559).rows], [2, 1]);
    assert.deepEqual([gridStep(30, 1099).columns, gridStep(30, 1099).rows], [4, 4]);
    assert.deepEqual([gridStep(30, 5000).columns, gridStep(30, 5000).rows], [5, 5]);
  });
});

describe("fitGrid", () => {
  const base = { gap: 12, labelHeight: 34 };

  it("3 tiles on a wide landscape stage sit in one row of 3 (largest tiles)", () => {
    const f = fitGrid({ ...base, count: 3, width: 1400, height: 500 });
    assert.equal(f.columns, 3);
    assert.equal(f.rows, 1);
    assert.equal(f.pages, 1);
  });

  it("3 tiles on a squarer stage use 2 columns and 2 rows", () => {
    const f = fitGrid({ ...base, count: 3, width: 900, height: 800 });
    assert.deepEqual([f.columns, f.rows], [2, 2]);
  });

  it("tiles are 16:9 and fit inside the stage with gaps and labels", () => {
    for (const [count, width, height] of [[4, 1000, 600], [7, 1200, 700], [9, 760, 900], [16, 1280, 800], [25, 1920, 1080]] as const) {
      const f = fitGrid({ ...base, count, width, height });
      assert.ok(Math.abs(f.tileWidth / f.videoHeight - 16 / 9) < 0.02, `aspect for ${count}`);
      assert.ok(f.columns * f.tileWidth + (f.columns - 1) * 12 <= width, `width for ${count}`);
      assert.ok(f.rows * (f.videoHeight + 34) + (f.rows - 1) * 12 <= height, `height for ${count}`);
      assert.ok(f.columns * f.rows >= Math.min(count, f.perPage), `room for every tile of the page for ${count}`);
    }
  });

  it("two tiles stack on a portrait stage", () => {
    const f = fitGrid({ ...base, count: 2, width: 500, height: 900 });
    assert.deepEqual([f.columns, f.rows], [1, 2]);
  });

  it("paginates what does not fit: 30 tiles on a 5x5 stage are 2 pages", () => {
    const f = fitGrid({ ...base, count: 30, width: 1600, height: 900 });
    assert.equal(f.perPage, 25);
    assert.equal(f.pages, 2);
    const narrow = fitGrid({ ...base, count: 6, width: 600, height: 600 });
    assert.equal(narrow.perPage, 4);
    assert.equal(narrow.pages, 2);
  });

  it("an empty or tiny stage gives zero-size tiles, never negative", () => {
    const f = fitGrid({ ...base, count: 4, width: 0, height: 0 });
    assert.equal(f.videoHeight, 0);
    assert.equal(f.tileWidth, 0);
  });
});

describe("spotlight geometry", () => {
  it("fitAspect keeps 16:9 and centres", () => {
    assert.deepEqual(fitAspect(1600, 900), { x: 0, y: 0, width: 1600, height: 900 });
    const wide = fitAspect(2000, 900);
    assert.deepEqual(wide, { x: 200, y: 0, width: 1600, height: 900 });
    const tall = fitAspect(800, 900);
    assert.equal(tall.width, 800);
    assert.equal(tall.height, 450);
    assert.deepEqual(fitAspect(0, 100), { x: 0, y: 0, width: 0, height: 0 });
  });

  it("the PiP sits in the bottom-right corner with a margin, 144-320 px wide", () => {
    const p = pipRect(1000, 600);
    assert.equal(p.width, 220);
    assert.equal(p.x + p.width, 1000 - 16);
    assert.equal(p.y + p.height, 600 - 16);
    assert.equal(pipRect(3000, 2000).width, 320);
    assert.equal(pipRect(400, 300).width, 144);
  });
});

describe("pages", () => {
  it("clamps and slices", () => {
    assert.equal(clampPage(5, 3), 2);
    assert.equal(clampPage(-1, 3), 0);
    assert.equal(clampPage(2, 1), 0);
    const items = Array.from({ length: 10 }, (_, i) => i);
    assert.deepEqual(pageItems(items, 0, 4), [0, 1, 2, 3]);
    assert.deepEqual(pageItems(items, 2, 4), [8, 9]);
    assert.deepEqual(pageItems(items, 9, 4), [8, 9]);
  });
});
