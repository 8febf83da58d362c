import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ActiveSpeaker, sortTiles, stableOrder, SPEAKER_SWITCH_MS, type OrderTile } from "../src/stage-order.js";

const t = (key: string, o: Partial<OrderTile> = {}): OrderTile => ({
  key, self: false, speaking: false, lastSpokeAt: 0, cameraOn: true, joinSeq: Number(key.replace(/\D/g, "")) || 0, ...o,
});

describe("grid order (UX.md §2: self, speakers, camera-on, join time)", () => {
  it("sorts self first, then speaking, then recent speakers, then camera on, then join time", () => {
    const tiles = [
      t("r1", { cameraOn: false }),
      t("r2"),
      t("r3", { lastSpokeAt: 50 }),
      t("r4", { speaking: true, lastSpokeAt: 10 }),
      t("me", { self: true, joinSeq: 99 }),
      t("r5", { lastSpokeAt: 80 }),
    ];
    assert.deepEqual(sortTiles(tiles).map((x) => x.key), ["me", "r4", "r5", "r3", "r2", "r1"]);
  });

  it("with no previous order: the full sort", () => {
    assert.deepEqual(stableOrder([], [t("r2"), t("me", { self: true }), t("r1")], 4), ["me", "r1", "r2"]);
  });

  it("keeps places across renders; new tiles go at the end, gone ones close up", () => {
    const prev = ["me", "r3", "r1", "r2"];
    const tiles = [t("me", { self: true }), t("r1"), t("r3"), t("r4"), t("r5", { cameraOn: false })];
    assert.deepEqual(stableOrder(prev, tiles, 9), ["me", "r3", "r1", "r4", "r5"]);
  });

  it("a speaker on the current page does not move (no re-sorting)", () => {
    const prev = ["me", "r1", "r2", "r3"];
    const tiles = [t("me", { self: true }), t("r1"), t("r2"), t("r3", { speaking: true, lastSpokeAt: 5 })];
    assert.deepEqual(stableOrder(prev, tiles, 4), prev);
  });

  it("a speaker off the page swaps into the least-recently-speaking slot; nothing else moves", () => {
    const prev = ["me", "r1", "r2", "r3", "r4", "r5", "r6"];
    const tiles = [
      t("me", { self: true }),
      t("r1", { lastSpokeAt: 30 }),
      t("r2", { lastSpokeAt: 10 }),
      t("r3", { lastSpokeAt: 20 }),
      t("r4"),
      t("r5"),
      t("r6", { speaking: true, lastSpokeAt: 100 }),
    ];
    // Page 0 holds 4: me r1 r2 r3; r2 spoke least recently.
    assert.deepEqual(stableOrder(prev, tiles, 4, 0), ["me", "r1", "r6", "r3", "r4", "r5", "r2"]);
  });

  it("never swaps out self or another speaker; the current page is the one swapped into", () => {
    const prev = ["me", "r1", "r2", "r3", "r4"];
    const tiles = [t("me", { self: true }), t("r1", { speaking: true, lastSpokeAt: 9 }), t("r2"), t("r3"), t("r4", { speaking: true, lastSpokeAt: 10 })];
    // Page 1 of 2-per-page is [r2, r3]: both speakers are off it; r4 (newest) takes r3's slot (joined later), then r1 takes r2's.
    assert.deepEqual(stableOrder(prev, tiles, 2, 1), ["me", "r2", "r1", "r4", "r3"]);
    // Page 0 = [me, r1]: both protected, nothing moves.
    assert.deepEqual(stableOrder(prev, tiles, 2, 0), prev);
  });

  it("self moves back to the front if the previous order had it elsewhere", () => {
    assert.deepEqual(stableOrder(["r1", "me"], [t("r1"), t("me", { self: true })], 4), ["me", "r1"]);
  });
});

describe("active speaker (speaker view's stage)", () => {
  it("starts on the first remote, switches at once to the first speaker", () => {
    const a = new ActiveSpeaker();
    assert.equal(a.update(["r1", "r2"], [], 0).key, "r1");
    assert.equal(a.update(["r1", "r2"], ["r2"], 100).key, "r2");
  });

  it("keeps the last speaker when nobody speaks", () => {
    const a = new ActiveSpeaker();
    a.update(["r1", "r2"], ["r2"], 0);
    assert.equal(a.update(["r1", "r2"], [], 5000).key, "r2");
    assert.equal(a.update(["r1", "r2"], [], 50000).key, "r2");
  });

  it("switches at most once per 1.5 s and says when to look again", () => {
    const a = new ActiveSpeaker();
    a.update(["r1", "r2", "r3"], ["r1"], 1000);
    const held = a.update(["r1", "r2", "r3"], ["r2"], 1500);
    assert.deepEqual(held, { key: "r1", retryAt: 1000 + SPEAKER_SWITCH_MS });
    assert.equal(a.update(["r1", "r2", "r3"], ["r2"], 2499).key, "r1");
    assert.equal(a.update(["r1", "r2", "r3"], ["r2"], 2500).key, "r2");
  });

  it("keeps the current speaker while they speak, even if someone else starts", () => {
    const a = new ActiveSpeaker();
    a.update(["r1", "r2"], ["r1"], 0);
    assert.equal(a.update(["r1", "r2"], ["r1", "r2"], 5000).key, "r1");
    // r1 stops: the newest speaker (r2) takes the stage.
    assert.equal(a.update(["r1", "r2"], ["r2"], 6000).key, "r2");
  });

  it("among several new speakers, the one who started last wins", () => {
    const a = new ActiveSpeaker();
    a.update(["r1", "r2", "r3"], [], 0);
    a.update(["r1", "r2", "r3"], ["r2"], 0);
    assert.equal(a.update(["r1", "r2", "r3"], ["r3"], 3000).key, "r3");
    assert.equal(a.update(["r1", "r2", "r3"], ["r2", "r3"], 3100).key, "r3");
  });

  it("when the stage person leaves, the replacement comes without the hold", () => {
    const a = new ActiveSpeaker();
    a.update(["r1", "r2"], ["r1"], 0);
    assert.equal(a.update(["r2"], ["r2"], 100).key, "r2");
    const b = new ActiveSpeaker();
    b.update(["r1", "r2"], ["r1"], 0);
    assert.equal(b.update(["r2"], [], 100).key, "r2");
  });

  it("never ourselves: only the remote keys passed in count", () => {
    const a = new ActiveSpeaker();
    assert.equal(a.update(["r1"], ["self"], 0).key, "r1");
    assert.equal(a.update([], ["self"], 10).key, null);
  });
});
