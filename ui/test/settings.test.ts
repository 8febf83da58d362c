import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { defaultSettings, normalizeSettings, SettingsSaver } from "../src/settings.js";
import type { Settings } from "../src/types.js";

describe("settings defaults", () => {
  it("the contract's defaults: 360p, camera, this computer, system theme, standard noise suppression, echo cancellation on, nothing remembered", () => {
    const d = defaultSettings("u-1");
    assert.deepEqual(d, {
      user_id: "u-1", name: "", last_server: "", last_room: "", last_app_id: null, last_app_sign: "", last_token: "", last_pin: "",
      camera: null, microphone: null, speaker: null, video_source: "camera", video_preset: "360p",
      host_scope: "this_computer", theme: "system", noise_suppression: "standard", echo_cancellation: "on",
    });
  });

  it("normalising garbage gives the defaults and generates a user ID", () => {
    for (const raw of [null, undefined, 42, "x", [], {}]) {
      const s = normalizeSettings(raw, () => 0);
      assert.equal(s.user_id, "u-aaaaaaaaaaaa");
      assert.equal(s.video_preset, "360p");
      assert.equal(s.theme, "system");
      assert.equal(s.last_app_id, null);
    }
  });

  it("keeps valid fields and replaces wrongly typed or unknown values", () => {
    const s = normalizeSettings({
      user_id: "u-7",
      name: "Ada",
      last_server: "ws://h/ws",
      last_app_id: 5,
      camera: "/dev/video0",
      microphone: "",
      video_source: "test_pattern",
      video_preset: "4k",
      host_scope: "network",
      theme: "neon",
      extra: true,
    });
    assert.equal(s.user_id, "u-7");
    assert.equal(s.name, "Ada");
    assert.equal(s.last_app_id, 5);
    assert.equal(s.camera, "/dev/video0");
    assert.equal(s.microphone, null, "empty device id means default");
    assert.equal(s.video_source, "test_pattern");
    assert.equal(s.video_preset, "360p");
    assert.equal(s.host_scope, "network");
    assert.equal(s.theme, "system");
    assert.equal("extra" in s, false);
    assert.equal(normalizeSettings({ last_app_id: 1.5 }).last_app_id, null);
    assert.equal(normalizeSettings({ last_app_id: -3 }).last_app_id, null);
    assert.equal(normalizeSettings({ theme: "high-contrast" }).theme, "high-contrast");
  });

  it("the last invite's token and pin: kept (pin normalised), or empty when missing or odd", () => {
    const fp = "ab:".repeat(31) + "ab";
    const s = normalizeSettings({ last_token: " CF1.e30.c2ln ", last_pin: fp });
    assert.equal(s.last_token, "CF1.e30.c2ln");
    assert.equal(s.last_pin, fp.toUpperCase());
    assert.equal(normalizeSettings({ last_pin: "AB:CD" }).last_pin, "");
    assert.equal(normalizeSettings({ last_token: 5 }).last_token, "");
    // An older Rust side without these fields: defaults.
    assert.equal(normalizeSettings({ name: "Ada" }).last_token, "");
  });
});

describe("SettingsSaver", () => {
  it("saves the last of quick changes once, and flush saves at once", async () => {
    const saved: Settings[] = [];
    const saver = new SettingsSaver(async (s) => void saved.push(s), () => {}, 20);
    saver.queue({ ...defaultSettings("u"), name: "A" });
    saver.queue({ ...defaultSettings("u"), name: "Ad" });
    saver.queue({ ...defaultSettings("u"), name: "Ada" });
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(saved.map((s) => s.name), ["Ada"]);
    saver.queue({ ...defaultSettings("u"), name: "Grace" });
    await saver.flush();
    assert.deepEqual(saved.map((s) => s.name), ["Ada", "Grace"]);
    await saver.flush();
    assert.equal(saved.length, 2, "nothing pending: nothing saved");
  });

  it("reports a failed save", async () => {
    const errors: unknown[] = [];
    const saver = new SettingsSaver(async () => Promise.reject({ code: 1, message: "disk full" }), (e) => errors.push(e), 10);
    saver.queue(defaultSettings("u"));
    await saver.flush();
    assert.deepEqual(errors, [{ code: 1, message: "disk full" }]);
  });
});
