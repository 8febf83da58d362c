import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Devices, speakerTestButton, SYSTEM_DEFAULT } from "../src/devices.js";
import { defaultSettings } from "../src/settings.js";
import type { CommandError } from "../src/types.js";
import { fakeApi } from "./fake-api.js";

function devices(fail: Partial<Record<"testSpeaker", CommandError>> = {}) {
  const fake = fakeApi(fail);
  let settings = defaultSettings();
  const errors: [CommandError, string][] = [];
  const d = new Devices(fake.api, () => settings, (s) => (settings = s), (e, title) => errors.push([e, title]));
  const seen: boolean[] = [];
  d.subscribe(() => seen.push(d.testingSpeaker));
  return { d, fake, errors, seen };
}

describe("speaker test", () => {
  it("the button reads Test, then Playing… (disabled) while the chime plays", () => {
    assert.deepEqual(speakerTestButton(false), { label: "Test", disabled: false });
    assert.deepEqual(speakerTestButton(true), { label: "Playing…", disabled: true });
  });

  it("plays on the picked speaker, the default one as null, and goes back", async () => {
    const { d, fake, errors, seen } = devices();
    assert.equal(await d.testSpeaker("alsa:spk0"), true);
    assert.equal(await d.testSpeaker(SYSTEM_DEFAULT), true);
    assert.deepEqual(fake.calls, [["testSpeaker", "alsa:spk0"], ["testSpeaker", null]]);
    assert.deepEqual(seen, [true, false, true, false]);
    assert.equal(d.testingSpeaker, false);
    assert.deepEqual(errors, []);
  });

  it("plays one at a time", async () => {
    const { d, fake } = devices();
    let finish = (): void => {};
    (fake.api as { testSpeaker: unknown }).testSpeaker = (id: string | null) => {
      fake.calls.push(["testSpeaker", id]);
      return new Promise((r) => (finish = () => r(null)));
    };
    const first = d.testSpeaker("alsa:spk0");
    assert.equal(d.testingSpeaker, true);
    assert.equal(await d.testSpeaker("alsa:spk0"), false, "a second press while playing is ignored");
    finish();
    assert.equal(await first, true);
    assert.equal(d.testingSpeaker, false);
    assert.equal(fake.calls.length, 1);
  });

  it("reports a failure with its code and goes back to Test", async () => {
    const error = { code: 1_006_003, message: "no device with id \"gone\"" };
    const { d, errors } = devices({ testSpeaker: error });
    assert.equal(await d.testSpeaker("gone"), false);
    assert.deepEqual(errors, [[error, "Can't play the test sound"]]);
    assert.equal(d.testingSpeaker, false);
  });
});
