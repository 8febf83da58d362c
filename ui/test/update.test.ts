import { test } from "node:test";
import assert from "node:assert/strict";
import {
  availableText,
  errorText,
  errorTitle,
  formatBytes,
  notesText,
  progressPercent,
  progressText,
  UPDATE_ERRORS,
} from "../src/update.js";

test("texts for an available update", () => {
  const info = { version: "0.2.0", current_version: "0.1.0", notes: "Faster\n\n  calls", date: null };
  assert.equal(availableText(info), "Confer 0.2.0 is available (you have 0.1.0)");
  assert.equal(notesText(info.notes), "Faster calls");
  assert.equal(notesText("x".repeat(400), 10).length, 10);
});

test("progress", () => {
  assert.equal(progressPercent({ downloaded: 50, total: 200 }), 25);
  assert.equal(progressPercent({ downloaded: 50, total: null }), null);
  assert.equal(progressPercent({ downloaded: 500, total: 200 }), 100);
  assert.equal(progressText({ stage: "downloading", downloaded: 1_500_000, total: 3_000_000 }), "Downloading… 50% (1.5 MB of 3.0 MB)");
  assert.equal(progressText({ stage: "downloading", downloaded: 2_000, total: null }), "Downloading… 2 KB");
  assert.match(progressText({ stage: "restarting" }), /Restarting/);
  assert.equal(formatBytes(80), "80 B");
  assert.equal(formatBytes(-1), "?");
});

test("errors name the failure and say that the app keeps running", () => {
  const bad = { code: UPDATE_ERRORS.signatureInvalid, message: "the signature does not match (minisign)" };
  assert.equal(errorTitle(bad), "Update refused: bad signature");
  assert.equal(errorText(bad, "0.1.0"), "The signature does not match (minisign). Confer 0.1.0 keeps running.");
  assert.equal(errorText({ code: 1_000_103, message: "Cut short." }, ""), "Cut short.");
  assert.equal(errorText({ code: 42, message: "" }, "1.0.0"), "Update failed. Confer 1.0.0 keeps running.");
  assert.equal(errorTitle({ code: UPDATE_ERRORS.feedUnreachable, message: "" }), "Could not check for updates");
  assert.equal(errorTitle({ code: 42, message: "" }), "Update failed");
});
