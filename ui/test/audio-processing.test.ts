import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ECHO_CANCELLATION_OPTIONS, NOISE_SUPPRESSION_OPTIONS, processingOf } from "../src/audio-processing.js";
import { Devices } from "../src/devices.js";
import { defaultSettings, normalizeSettings } from "../src/settings.js";
import type { CommandError } from "../src/types.js";
import { fakeApi } from "./fake-api.js";

function devices(fail: Partial<Record<"setAudioProcessing", CommandError>> = {}) {
  const fake = fakeApi(fail);
  let settings = defaultSettings("u-1");
  const errors: [CommandError, string][] = [];
  const d = new Devices(fake.api, () => settings, (s) => (settings = s), (e, title) => errors.push([e, title]));
  return { d, fake, errors, settings: () => settings };
}

describe("audio processing settings", () => {
  it("offers off / standard / strong / AI and on / not with headphones / off", () => {
    assert.deepEqual(NOISE_SUPPRESSION_OPTIONS.map((o) => o.value), ["off", "standard", "strong", "ai"]);
    assert.deepEqual(ECHO_CANCELLATION_OPTIONS.map((o) => o.value), ["on", "speakers_only", "off"]);
  });

  it("both are on by default, and unknown values fall back to the default", () => {
    assert.deepEqual(processingOf(defaultSettings()), { noise_suppression: "standard", echo_cancellation: "on" });
    const kept = normalizeSettings({ noise_suppression: "ai", echo_cancellation: "speakers_only" });
    assert.deepEqual(processingOf(kept), { noise_suppression: "ai", echo_cancellation: "speakers_only" });
    const odd = normalizeSettings({ noise_suppression: "max", echo_cancellation: true });
    assert.deepEqual(processingOf(odd), { noise_suppression: "standard", echo_cancellation: "on" });
  });

  it("a choice is remembered and sent at once, engine or not; the rest stays", async () => {
    const { d, fake, errors, settings } = devices();
    const seen: string[] = [];
    d.subscribe(() => seen.push(settings().noise_suppression));
    await d.chooseProcessing({ noise_suppression: "ai" });
    await d.chooseProcessing({ echo_cancellation: "off" });
    assert.deepEqual(fake.calls, [
      ["setAudioProcessing", { noise_suppression: "ai", echo_cancellation: "on" }],
      ["setAudioProcessing", { noise_suppression: "ai", echo_cancellation: "off" }],
    ]);
    assert.equal(settings().noise_suppression, "ai");
    assert.equal(settings().echo_cancellation, "off");
    assert.deepEqual(seen, ["ai", "ai"], "the pickers re-render after each choice");
    assert.deepEqual(errors, []);
  });

  it("a fresh engine is told the remembered choice with the devices", async () => {
    const { d, fake } = devices();
    await d.chooseProcessing({ noise_suppression: "strong" });
    fake.calls.length = 0;
    await d.setup();
    const sent = fake.calls.filter((c) => c[0] === "setAudioProcessing");
    assert.deepEqual(sent, [["setAudioProcessing", { noise_suppression: "strong", echo_cancellation: "on" }]]);
  });

  it("a refusal is reported and the choice is still remembered", async () => {
    const refused = { code: 1009012, message: "boom" };
    const { d, errors, settings } = devices({ setAudioProcessing: refused });
    await d.chooseProcessing({ noise_suppression: "off" });
    assert.equal(settings().noise_suppression, "off");
    assert.deepEqual(errors, [[refused, "Can't set the audio processing"]]);
  });
});
