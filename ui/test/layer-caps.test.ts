import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LayerCaps, layerForHeight, RETRY_MS, SETTLE_MS, wantedLayer, type CapsClock, type TileSize } from "../src/layer-caps.js";
import type { VideoLayer } from "../src/generated/protocol.js";

describe("tile size -> simulcast layer", () => {
  it("asks low under 200 px, medium under 400 px, else high", () => {
    assert.equal(layerForHeight(0, null), "low");
    assert.equal(layerForHeight(199, null), "low");
    assert.equal(layerForHeight(200, null), "medium");
    assert.equal(layerForHeight(399, null), "medium");
    assert.equal(layerForHeight(400, null), "high");
    assert.equal(layerForHeight(2160, null), "high");
  });

  it("goes up at the thresholds but down only 15 % below them (hysteresis)", () => {
    // high holds down to 340 px (0.85 x 400), medium down to 170 px (0.85 x 200).
    assert.equal(layerForHeight(390, "high"), "high");
    assert.equal(layerForHeight(340, "high"), "high");
    assert.equal(layerForHeight(339, "high"), "medium");
    assert.equal(layerForHeight(175, "medium"), "medium");
    assert.equal(layerForHeight(169, "medium"), "low");
    assert.equal(layerForHeight(120, "high"), "low", "a big drop skips a layer");
    // Up needs the full threshold, whatever the current layer.
    assert.equal(layerForHeight(390, "medium"), "medium");
    assert.equal(layerForHeight(199, "low"), "low");
    assert.equal(layerForHeight(420, "low"), "high", "a big rise skips a layer");
  });

  it("a hidden tile or a thumbnail wants low whatever its size", () => {
    const big: TileSize = { streamId: "s", heightPx: 720, shown: true, thumbnail: false };
    assert.equal(wantedLayer(big, null), "high");
    assert.equal(wantedLayer({ ...big, shown: false }, "high"), "low");
    assert.equal(wantedLayer({ ...big, thumbnail: true }, "high"), "low");
  });
});

/** A fake clock whose timers run when it is advanced. */
class FakeClock implements CapsClock {
  t = 0;
  private timers: { at: number; f: () => void; id: number }[] = [];
  private ids = 0;
  now(): number {
    return this.t;
  }
  setTimeout(f: () => void, ms: number): unknown {
    const id = ++this.ids;
    this.timers.push({ at: this.t + ms, f, id });
    return id;
  }
  clearTimeout(id: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== id);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = next.at;
      next.f();
    }
    this.t = end;
  }
}

function caps(refuse: (id: string) => boolean = () => false) {
  const clock = new FakeClock();
  const asks: [string, VideoLayer][] = [];
  const refused: string[] = [];
  const c = new LayerCaps(
    (id, layer) => {
      asks.push([id, layer]);
      return refuse(id) ? Promise.reject(new Error("NotPlaying")) : Promise.resolve(null);
    },
    (id) => refused.push(id),
    clock,
  );
  return { c, clock, asks, refused };
}

const tile = (streamId: string, heightPx: number, more: Partial<TileSize> = {}): TileSize => ({
  streamId,
  heightPx,
  shown: true,
  thumbnail: false,
  ...more,
});

describe("LayerCaps: debouncing", () => {
  it("asks a new stream's layer at once, then nothing while it stays", () => {
    const { c, asks } = caps();
    c.update([tile("a", 720), tile("b", 180)]);
    assert.deepEqual(asks, [["a", "high"], ["b", "low"]]);
    c.update([tile("a", 700), tile("b", 200)]);
    assert.deepEqual(asks.length, 2);
    assert.equal(c.cap("a"), "high");
  });

  it("asks a changed layer only once it has held for the settling time", () => {
    const { c, clock, asks } = caps();
    c.update([tile("a", 720)]);
    clock.advance(1000);
    c.update([tile("a", 300)]);
    clock.advance(SETTLE_MS - 1);
    assert.deepEqual(asks, [["a", "high"]]);
    clock.advance(1);
    assert.deepEqual(asks, [["a", "high"], ["a", "medium"]]);
  });

  it("a resize that passes through smaller sizes and comes back asks nothing", () => {
    const { c, clock, asks } = caps();
    c.update([tile("a", 720)]);
    for (const h of [600, 400, 200, 300, 500, 720]) {
      clock.advance(100);
      c.update([tile("a", h)]);
    }
    clock.advance(5 * SETTLE_MS);
    assert.deepEqual(asks, [["a", "high"]]);
  });

  it("the settling time restarts when the wanted layer changes again", () => {
    const { c, clock, asks } = caps();
    c.update([tile("a", 720)]);
    c.update([tile("a", 300)]); // medium wanted from 0
    clock.advance(400);
    c.update([tile("a", 100)]); // low wanted from 400
    clock.advance(400);
    assert.deepEqual(asks, [["a", "high"]]);
    clock.advance(100);
    assert.deepEqual(asks, [["a", "high"], ["a", "low"]]);
  });

  it("a speaker-view swap: the new thumbnail goes low, the new stage tile high", () => {
    const { c, clock, asks } = caps();
    c.update([tile("a", 600), tile("b", 150, { thumbnail: true })]);
    c.update([tile("a", 150, { thumbnail: true }), tile("b", 600)]);
    clock.advance(SETTLE_MS);
    assert.deepEqual(asks, [["a", "high"], ["b", "low"], ["a", "low"], ["b", "high"]]);
  });

  it("forgets streams whose tiles are gone, and asks again for one that comes back", () => {
    const { c, clock, asks } = caps();
    c.update([tile("a", 720)]);
    c.update([tile("a", 100)]);
    c.update([]);
    clock.advance(2 * SETTLE_MS);
    assert.deepEqual(asks, [["a", "high"]]);
    assert.equal(c.cap("a"), undefined);
    c.update([tile("a", 720)]);
    assert.deepEqual(asks, [["a", "high"], ["a", "high"]]);
  });

  it("a refused ask is reported and asked again after RETRY_MS, not at every measure in between", async () => {
    let refuse = true;
    const { c, clock, asks, refused } = caps(() => refuse);
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) await Promise.resolve();
    };
    c.update([tile("a", 720)]);
    await settle();
    assert.deepEqual(refused, ["a"]);
    assert.equal(c.cap("a"), undefined);
    for (let i = 0; i < 5; i++) {
      clock.advance(100);
      c.update([tile("a", 300)]);
    }
    assert.deepEqual(asks, [["a", "high"]], "no re-ask within the retry wait");
    refuse = false;
    clock.advance(RETRY_MS - 500);
    assert.deepEqual(asks, [["a", "high"], ["a", "medium"]], "re-asked by the timer, at the tile's size then");
    await settle();
    assert.equal(c.cap("a"), "medium");
    assert.deepEqual(refused, ["a"]);
  });

  it("a refusal for a tile that went away asks nothing more", async () => {
    const { c, clock, asks } = caps(() => true);
    c.update([tile("a", 720)]);
    c.update([]);
    for (let i = 0; i < 3; i++) await Promise.resolve();
    clock.advance(10 * RETRY_MS);
    assert.deepEqual(asks, [["a", "high"]]);
  });
});
