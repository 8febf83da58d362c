// A playing leg's repair playout target: held while its player sends
// NACKs and for 10 s after the last rise of the count, then released.

import { test } from "node:test";
import assert from "node:assert/strict";
import { RepairHold } from "../src/media.js";

test("the target holds from a rise of the NACK count for 10 s, then is released", () => {
  const hold = new RepairHold(300);
  assert.equal(hold.update(0, 0), null, "no NACKs: Chromium's own target");
  assert.equal(hold.update(4, 1_000), 300, "the count rose");
  assert.equal(hold.update(4, 10_999), 300, "within 10 s of the rise");
  assert.equal(hold.update(4, 11_000), null, "a flat count for 10 s releases it");
  assert.equal(hold.update(5, 12_000), 300, "a new rise holds it again");
  assert.equal(hold.update(5, 21_500), 300);
  assert.equal(hold.update(5, 22_000), null);
});

test("a target of 0 never holds", () => {
  const hold = new RepairHold(0);
  assert.equal(hold.update(10, 0), null);
  assert.equal(hold.update(20, 1_000), null);
});
