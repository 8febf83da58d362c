// A playing leg's repair playout target: held while its player sends
// NACKs and for 10 s after the last rise of the count, then released;
// sized from the leg's round trip, never above the page's cap.

import { test } from "node:test";
import assert from "node:assert/strict";
import { RepairHold, repairTarget } from "../src/media.js";

test("the target holds from a rise of the NACK count for 10 s, then is released", () => {
  const hold = new RepairHold(300);
  assert.equal(hold.update(0, 0, 100), null, "no NACKs: Chromium's own target");
  assert.equal(hold.update(4, 1_000, 100), 300, "the count rose");
  assert.equal(hold.update(4, 10_999, 100), 300, "within 10 s of the rise");
  assert.equal(hold.update(4, 11_000, 100), null, "a flat count for 10 s releases it");
  assert.equal(hold.update(5, 12_000, 100), 300, "a new rise holds it again");
  assert.equal(hold.update(5, 21_500, 100), 300);
  assert.equal(hold.update(5, 22_000, 100), null);
});

test("the target covers two resend rounds of the leg's round trip, at most the cap", () => {
  assert.equal(repairTarget(10, 300), 120, "a near server: two rounds of 60 ms");
  assert.equal(repairTarget(60, 300), 220);
  assert.equal(repairTarget(100, 300), 300);
  assert.equal(repairTarget(400, 300), 300, "a far path is capped");
  const hold = new RepairHold(300);
  assert.equal(hold.update(3, 0, null), 300, "no round trip measured yet: the cap");
  assert.equal(hold.update(6, 1_000, 20), 140, "the round trip moved: so does the target");
});

test("a cap of 0 never holds", () => {
  const hold = new RepairHold(0);
  assert.equal(hold.update(10, 0, 50), null);
  assert.equal(hold.update(20, 1_000, null), null);
});
