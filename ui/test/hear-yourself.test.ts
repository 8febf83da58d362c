import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Devices, hearYourselfButton } from "../src/devices.js";
import { defaultSettings } from "../src/settings.js";
import type { CommandError } from "../src/types.js";
import { fakeApi } from "./fake-api.js";

function devices(fail: Partial<Record<"setAudioLoopback", CommandError>> = {}) {
  const fake = fakeApi(fail);
  let settings = defaultSettings();
  const errors: [CommandError, string][] = [];
  const d = new Devices(fake.api, () => settings, (s) => (settings = s), (e, title) => errors.push([e, title]));
  return { d, fake, errors };
}

describe("hear yourself (pre-join microphone playback)", () => {
  it("the toggle reads Hear yourself, then Stop hearing yourself (pressed)", () => {
    assert.equal(hearYourselfButton(false).label, "Hear yourself");
    assert.equal(hearYourselfButton(false).pressed, false);
    assert.deepEqual([hearYourselfButton(true).label, hearYourselfButton(true).pressed], ["Stop hearing yourself", true]);
  });

  it("starts and stops the engine's loopback, once per change", async () => {
    const { d, fake, errors } = devices();
    assert.equal(await d.hearYourself(true), true);
    assert.equal(d.hearingSelf, true);
    assert.equal(await d.hearYourself(true), true, "already on: nothing to do");
    assert.equal(await d.hearYourself(false), true);
    assert.equal(d.hearingSelf, false);
    assert.deepEqual(fake.calls, [["setAudioLoopback", true], ["setAudioLoopback", false]]);
    assert.deepEqual(errors, []);
  });

  it("a refusal (no engine yet) is reported and the toggle stays off", async () => {
    const error = { code: 1_000_001, message: "the engine is not created" };
    const { d, errors } = devices({ setAudioLoopback: error });
    assert.equal(await d.hearYourself(true), false);
    assert.equal(d.hearingSelf, false);
    assert.deepEqual(errors, [[error, "Can't play your microphone back"]]);
  });
});
