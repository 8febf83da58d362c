import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { clampPage, fitAspect, fitFocus, fitGrid, fitSpotlight, gridStep, MIN_LABEL_WIDTH, pageItems, selfViewWidth, stageMode, type Rect } from "../src/layout.js";

describe("stage mode", () => {
  it("alone: solo; one remote: spotlight (remote big + self view beside it); more: grid", () => {
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

  it("every page fits the stage (gaps, label rows and, when paged, the 40 px pager) at any size", () => {
    for (let count = 2; count <= 30; count += 1) {
      for (let width = 280; width <= 2000; width += 89) {
        for (let height = 200; height <= 1200; height += 97) {
          let f = fitGrid({ ...base, count, width, height });
          const h = f.pages > 1 ? height - 40 : height;
          if (f.pages > 1) f = fitGrid({ ...base, count, width, height: h });
          assert.ok(f.columns * f.tileWidth + (f.columns - 1) * 12 <= width, `width: ${count} at ${width}x${height}`);
          assert.ok(f.rows * (f.videoHeight + 34) + (f.rows - 1) * 12 <= h, `height: ${count} at ${width}x${height}`);
          assert.ok(f.columns * f.rows >= Math.min(count, f.perPage), `room: ${count} at ${width}x${height}`);
        }
      }
    }
  });

  it("a short stage gets fewer rows per page (more pages) instead of slivers of video", () => {
    const f = fitGrid({ ...base, count: 9, width: 760, height: 260 });
    assert.equal(f.rows, 2);
    assert.equal(f.perPage, 8, "3x3 capped to 3x2, then 4x2: as big tiles, more per page");
    assert.equal(f.pages, 2);
    assert.ok(f.videoHeight >= 72, `video ${f.videoHeight}`);
    const tall = fitGrid({ ...base, count: 9, width: 760, height: 700 });
    assert.deepEqual([tall.columns, tall.rows, tall.pages], [3, 3, 1]);
  });

  it("pages only when paging buys bigger tiles (side panel open on a 900 px window)", () => {
    // 512 px is below the 2x2 step's 560, but 2x2 tiles are as big as 2x1's: everyone on one page.
    const four = fitGrid({ ...base, count: 4, width: 512, height: 433 });
    assert.deepEqual([four.columns, four.rows, four.pages], [2, 2, 1]);
    assert.equal(four.videoHeight, fitGrid({ ...base, count: 2, width: 512, height: 433 }).videoHeight);
    // 5 tiles would need 3 columns (smaller tiles): 2x2 pages instead.
    const five = fitGrid({ ...base, count: 5, width: 512, height: 433 });
    assert.deepEqual([five.columns, five.rows, five.perPage, five.pages], [2, 2, 4, 2]);
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

});

describe("fitSpotlight (1:1: the self view never lies over the remote picture)", () => {
  const GAP = 12;
  const LABEL = 34;
  const fit = (width: number, height: number) => fitSpotlight({ width, height, gap: GAP, labelHeight: LABEL });
  const overlaps = (a: Rect, b: Rect): boolean =>
    a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  const inside = (r: Rect, w: number, h: number): boolean => r.x >= 0 && r.y >= 0 && r.x + r.width <= w && r.y + r.height <= h;
  /** Video rects and the label rows under them: everything the layout puts on the stage. */
  const boxes = (f: ReturnType<typeof fit>) => ({
    mainVideo: f.main,
    mainLabel: { x: f.main.x, y: f.main.y + f.main.height, width: f.mainLabelWidth, height: LABEL },
    selfVideo: f.self,
    selfLabel: { x: f.self.x, y: f.self.y + f.self.height, width: f.self.width, height: LABEL },
  });

  it("no video rect or label row overlaps another, and all lie inside the stage, at any size", () => {
    for (let w = 160; w <= 2560; w += 37) {
      for (let h = 120; h <= 1440; h += 41) {
        const f = fit(w, h);
        const b = Object.entries(boxes(f));
        for (const [name, r] of b) assert.ok(inside(r, w, h), `${name} ${JSON.stringify(r)} outside ${w}x${h}`);
        for (let i = 0; i < b.length; i++)
          for (let j = i + 1; j < b.length; j++)
            assert.ok(!overlaps(b[i]![1], b[j]![1]), `${b[i]![0]} overlaps ${b[j]![0]} at ${w}x${h}: ${JSON.stringify(f)}`);
      }
    }
  });

  it("both pictures are 16:9, the remote one is bigger, and the self view is at the group's bottom right", () => {
    for (const [w, h] of [[1068, 553], [712, 553], [512, 433], [312, 322], [1888, 900], [600, 1000]] as const) {
      const f = fit(w, h);
      for (const r of [f.main, f.self]) assert.ok(Math.abs(r.width / r.height - 16 / 9) < 0.03, `aspect ${JSON.stringify(r)} at ${w}x${h}`);
      assert.ok(f.main.width > f.self.width, `remote bigger at ${w}x${h}`);
      const right = Math.max(f.main.x + f.main.width, f.self.x + f.self.width);
      const bottom = Math.max(f.main.y + f.main.height, f.self.y + f.self.height) + LABEL;
      assert.equal(f.self.x + f.self.width, right, `self at the right at ${w}x${h}`);
      assert.equal(f.self.y + f.self.height + LABEL, bottom, `self at the bottom at ${w}x${h}`);
    }
  });

  it("the group is centred in the stage (no sticking to the left or top)", () => {
    for (const [w, h] of [[1068, 553], [712, 553], [512, 433], [1888, 900], [600, 1000], [2000, 400]] as const) {
      const f = fit(w, h);
      const left = Math.min(f.main.x, f.self.x);
      const right = w - Math.max(f.main.x + f.main.width, f.self.x + f.self.width);
      const top = Math.min(f.main.y, f.self.y);
      const bottom = h - (Math.max(f.main.y + f.main.height, f.self.y + f.self.height) + LABEL);
      assert.ok(Math.abs(left - right) <= 1, `horizontal ${left} vs ${right} at ${w}x${h}`);
      assert.ok(Math.abs(top - bottom) <= 1, `vertical ${top} vs ${bottom} at ${w}x${h}`);
    }
  });

  it("wide stage: self view beside the remote, labels on one line", () => {
    const f = fit(1068, 553);
    assert.equal(f.arrangement, "beside");
    assert.equal(f.main.y + f.main.height, f.self.y + f.self.height);
    assert.equal(f.self.x, f.main.x + f.main.width + GAP);
    assert.equal(f.mainLabelWidth, f.main.width);
    assert.ok(f.main.height >= 480, `remote stays big: ${f.main.height}`);
  });

  it("panel open (narrower stage): self view under the remote's right end, the remote label shortened beside it", () => {
    const f = fit(712, 553);
    assert.equal(f.arrangement, "below");
    assert.equal(f.main.width, 711);
    assert.equal(f.self.x + f.self.width, f.main.x + f.main.width);
    assert.equal(f.self.y, f.main.y + f.main.height + GAP);
    assert.equal(f.mainLabelWidth, f.main.width - f.self.width - GAP);
    assert.ok(f.mainLabelWidth >= MIN_LABEL_WIDTH);
  });

  it("picks whichever arrangement gives the bigger remote picture", () => {
    for (const [w, h] of [[1068, 553], [712, 553], [512, 433], [1400, 500], [500, 1400]] as const) {
      const f = fit(w, h);
      // Both candidates by hand, with the same self view: the chosen one is the bigger.
      const sw = f.self.width;
      const sh = f.self.height;
      const besideH = Math.floor(Math.min(h - LABEL, (w - GAP - sw) / (16 / 9)));
      const belowH = Math.floor(Math.min(w / (16 / 9), h - GAP - sh - LABEL));
      assert.equal(f.main.height, f.arrangement === "beside" ? besideH : belowH, `${w}x${h}`);
      if (f.arrangement === "below") assert.ok(belowH > besideH, `${w}x${h}`);
      else assert.ok(belowH <= besideH || Math.floor(belowH * (16 / 9)) - sw - GAP < MIN_LABEL_WIDTH, `${w}x${h}`);
    }
  });

  it("the self view is 18 % of the stage, 144-240 px, at most half the stage", () => {
    assert.equal(selfViewWidth(1000, 600, 34), 180);
    assert.equal(selfViewWidth(3000, 2000, 34), 240);
    assert.equal(selfViewWidth(500, 600, 34), 144);
    assert.equal(selfViewWidth(200, 600, 34), 100);
    assert.ok(selfViewWidth(1000, 120, 34) <= ((120 - 34) / 2) * (16 / 9));
    assert.equal(selfViewWidth(0, 0, 34), 0);
  });

  it("an empty stage gives zero rects", () => {
    const f = fit(0, 0);
    assert.deepEqual(f.main, { x: 0, y: 0, width: 0, height: 0 });
    assert.deepEqual(f.self, { x: 0, y: 0, width: 0, height: 0 });
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

describe("fitFocus (speaker view: a stage tile and a strip, nothing overlapping)", () => {
  const GAP = 12;
  const LABEL = 34;
  const overlaps = (a: Rect, b: Rect): boolean =>
    a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  const inside = (r: Rect, w: number, h: number): boolean => r.x >= 0 && r.y >= 0 && r.x + r.width <= w && r.y + r.height <= h;
  const withLabel = (r: Rect): Rect => ({ ...r, height: r.height + LABEL });

  it("no tile (video + label) overlaps another and all lie inside the stage, over a size sweep", () => {
    for (const n of [1, 2, 3, 5, 8, 15, 30]) {
      for (let w = 200; w <= 2560; w += 53) {
        for (let h = 160; h <= 1440; h += 47) {
          const f = fitFocus({ width: w, height: h, gap: GAP, labelHeight: LABEL, stripCount: n });
          const boxes = [f.main, ...f.strip].map(withLabel);
          assert.ok(f.strip.length >= 1 && f.strip.length <= n, `strip ${f.strip.length} of ${n} at ${w}x${h}`);
          assert.equal(f.pages, Math.ceil(n / f.perPage));
          for (const b of boxes) assert.ok(inside(b, w, h), `${JSON.stringify(b)} outside ${w}x${h} (n=${n}, ${f.arrangement})`);
          for (let i = 0; i < boxes.length; i++)
            for (let j = i + 1; j < boxes.length; j++)
              assert.ok(!overlaps(boxes[i]!, boxes[j]!), `${i} overlaps ${j} at ${w}x${h} n=${n}: ${JSON.stringify(f)}`);
          assert.ok(f.main.width >= f.strip[0]!.width, `stage tile is the big one at ${w}x${h}`);
        }
      }
    }
  });

  it("a wide stage puts the strip beside the stage tile, a tall one under it", () => {
    assert.equal(fitFocus({ width: 1600, height: 700, gap: GAP, labelHeight: LABEL, stripCount: 4 }).arrangement, "side");
    assert.equal(fitFocus({ width: 700, height: 1000, gap: GAP, labelHeight: LABEL, stripCount: 4 }).arrangement, "bottom");
  });

  it("16:9 pictures, and a strip that holds what fits (the rest is paged)", () => {
    const f = fitFocus({ width: 1200, height: 600, gap: GAP, labelHeight: LABEL, stripCount: 20 });
    for (const r of [f.main, ...f.strip]) assert.ok(Math.abs(r.width / r.height - 16 / 9) < 0.05, JSON.stringify(r));
    assert.ok(f.perPage < 20 && f.pages > 1);
  });

  it("no strip: the stage tile alone, centred", () => {
    const f = fitFocus({ width: 1000, height: 600, gap: GAP, labelHeight: LABEL, stripCount: 0 });
    assert.equal(f.strip.length, 0);
    assert.equal(f.main.height, 562);
    assert.ok(Math.abs(f.main.x - (1000 - f.main.x - f.main.width)) <= 1);
  });
});
