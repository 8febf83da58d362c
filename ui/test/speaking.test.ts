import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  clampLevel,
  meterSteps,
  MonitorUsers,
  MUTED_HINT_INTERVAL_MS,
  MUTED_HINT_SHOW_MS,
  MutedHint,
  SELF,
  SPEAKING_HOLD_MS,
  SpeakingTracker,
} from "../src/speaking.js";
import { eventFrom } from "../src/tauri.js";

describe("mic meter steps", () => {
  it("maps 0..100 onto 8 steps, silence and junk to 0", () => {
    assert.equal(meterSteps(0), 0);
    assert.equal(meterSteps(5), 0); // hiss does not light a step
    assert.equal(meterSteps(12.5), 1);
    assert.equal(meterSteps(50), 4);
    assert.equal(meterSteps(99), 8);
    assert.equal(meterSteps(100), 8);
    assert.equal(meterSteps(250), 8);
    assert.equal(meterSteps(-3), 0);
    assert.equal(meterSteps(Number.NaN), 0);
    assert.equal(meterSteps(50, 4), 2);
  });
  it("clampLevel keeps levels in 0..100", () => {
    assert.equal(clampLevel(42.5), 42.5);
    assert.equal(clampLevel(-1), 0);
    assert.equal(clampLevel(101), 100);
    assert.equal(clampLevel("x"), 0);
    assert.equal(clampLevel(undefined), 0);
  });
});

describe("SpeakingTracker: hysteresis and hold", () => {
  it("starts at 25, not below", () => {
    const t = new SpeakingTracker();
    assert.equal(t.level("s1", 24.9, 0), false);
    assert.equal(t.level("s1", 25, 100), true);
    assert.deepEqual(t.speaking(), ["s1"]);
  });
  it("stays speaking between 15 and 25 (hysteresis), without a new start below 25", () => {
    const t = new SpeakingTracker();
    t.level("s1", 40, 0);
    assert.equal(t.level("s1", 18, 100), true);
    assert.equal(t.level("s1", 16, 2000), true); // still >= OFF: no hold running
    const u = new SpeakingTracker();
    assert.equal(u.level("s2", 20, 0), false); // 20 never starts speaking
  });
  it("holds 0.5 s after the level fell below 15, then stops", () => {
    const t = new SpeakingTracker();
    t.level("s1", 60, 1000);
    assert.equal(t.level("s1", 3, 1100), true);
    assert.equal(t.level("s1", 3, 1000 + SPEAKING_HOLD_MS - 1), true);
    assert.equal(t.level("s1", 3, 1000 + SPEAKING_HOLD_MS), false);
    assert.deepEqual(t.speaking(), []);
  });
  it("a word inside the hold keeps the ring (no flicker)", () => {
    const t = new SpeakingTracker();
    t.level("s1", 60, 0);
    t.level("s1", 2, 100);
    t.level("s1", 2, 400);
    assert.equal(t.level("s1", 30, 450), true);
    assert.equal(t.level("s1", 2, 900), true); // the hold restarted at 450
    assert.equal(t.level("s1", 2, 950), false);
  });
  it("tick ends holds when no report comes, and nextExpiry says when", () => {
    const t = new SpeakingTracker();
    assert.equal(t.nextExpiry(), null);
    t.level("s1", 60, 200);
    assert.equal(t.nextExpiry(), 200 + SPEAKING_HOLD_MS);
    t.tick(200 + SPEAKING_HOLD_MS - 1);
    assert.equal(t.isSpeaking("s1"), true);
    t.tick(200 + SPEAKING_HOLD_MS);
    assert.equal(t.isSpeaking("s1"), false);
    assert.equal(t.nextExpiry(), null);
  });
  it("a remote report counts missing streams as silent, but not our own key", () => {
    const t = new SpeakingTracker();
    t.level(SELF, 70, 0);
    t.levels({ a: 70, b: 40 }, 0, (k) => k !== SELF);
    assert.deepEqual(t.speaking(), ["", "a", "b"]);
    t.levels({ a: 70 }, 300, (k) => k !== SELF);
    t.levels({ a: 70 }, 600, (k) => k !== SELF);
    assert.deepEqual(t.speaking(), ["", "a"]); // our key is only ended by its own reports (or tick)
    assert.equal(t.isSpeaking("b"), false);
  });
  it("drop forgets at once (stream gone, mic muted)", () => {
    const t = new SpeakingTracker();
    t.level("s1", 90, 0);
    t.drop("s1");
    assert.equal(t.isSpeaking("s1"), false);
    assert.equal(t.level("s1", 20, 10), false); // starts from scratch: 20 < ON
  });
});

describe("MutedHint: sustain, rate limit, dismissal", () => {
  const loud = 45;
  it("shows after 600 ms above 30 while muted, not before", () => {
    const m = new MutedHint();
    assert.equal(m.update(loud, true, 0), false);
    assert.equal(m.update(loud, true, 300), false);
    assert.equal(m.update(loud, true, 599), false);
    assert.equal(m.update(loud, true, 600), true);
  });
  it("a dip to 30 or below restarts the 600 ms", () => {
    const m = new MutedHint();
    m.update(loud, true, 0);
    m.update(loud, true, 500);
    m.update(30, true, 550);
    assert.equal(m.update(loud, true, 700), false);
    assert.equal(m.update(loud, true, 1299), false);
    assert.equal(m.update(loud, true, 1300), true);
  });
  it("never shows while the mic is on", () => {
    const m = new MutedHint();
    for (let t = 0; t <= 2000; t += 100) assert.equal(m.update(90, false, t), false);
  });
  it("unmuting hides it at once", () => {
    const m = new MutedHint();
    m.update(loud, true, 0);
    assert.equal(m.update(loud, true, 600), true);
    assert.equal(m.update(loud, false, 700), false);
    assert.equal(m.visible, false);
  });
  it("at most once per 30 s, counted from when it showed", () => {
    const m = new MutedHint();
    m.update(loud, true, 0);
    assert.equal(m.update(loud, true, 600), true);
    m.dismiss();
    // Muted and loud again right away: nothing until 30 s after the first showing.
    for (let t = 700; t < 600 + MUTED_HINT_INTERVAL_MS; t += 100) assert.equal(m.update(loud, true, t), false, `at ${t}`);
    assert.equal(m.update(loud, true, 600 + MUTED_HINT_INTERVAL_MS), true);
  });
  it("unmute then mute again does not reset the rate limit; a new call does", () => {
    const m = new MutedHint();
    m.update(loud, true, 0);
    m.update(loud, true, 600);
    m.update(0, false, 1000);
    m.update(loud, true, 2000);
    assert.equal(m.update(loud, true, 3000), false);
    m.reset();
    m.update(loud, true, 4000);
    assert.equal(m.update(loud, true, 4600), true);
  });
  it("hides by itself after a while", () => {
    const m = new MutedHint();
    m.update(loud, true, 0);
    m.update(loud, true, 600);
    assert.equal(m.expire(600 + MUTED_HINT_SHOW_MS - 1), true);
    assert.equal(m.expire(600 + MUTED_HINT_SHOW_MS), false);
    // still loud: not again before the 30 s are up
    assert.equal(m.update(loud, true, 600 + MUTED_HINT_SHOW_MS + 700), false);
  });
});

describe("MonitorUsers: start for the first user, stop after the last", () => {
  function make() {
    const calls: string[] = [];
    const queued: (() => void)[] = [];
    const m = new MonitorUsers(
      () => calls.push("start"),
      () => calls.push("stop"),
      (fn) => queued.push(fn),
      () => queued.splice(0),
    );
    const flush = () => queued.splice(0).forEach((fn) => fn());
    return { m, calls, flush };
  }
  it("home -> call hands over without a stop", () => {
    const { m, calls, flush } = make();
    m.acquire("home");
    m.release("home");
    m.acquire("call");
    flush();
    assert.deepEqual(calls, ["start", "start"]);
    assert.equal(m.active, true);
    m.release("call");
    flush();
    assert.deepEqual(calls, ["start", "start", "stop"]);
    assert.equal(m.active, false);
  });
  it("releasing a user that never acquired does nothing; a second acquire restarts (new engine)", () => {
    const { m, calls, flush } = make();
    m.release("call");
    flush();
    assert.deepEqual(calls, []);
    m.acquire("call");
    m.acquire("call");
    assert.deepEqual(calls, ["start", "start"]);
    m.acquire("home");
    m.release("call");
    flush();
    assert.deepEqual(calls, ["start", "start", "start"]);
  });
});

describe("level events as the UI receives them", () => {
  it("keeps the SDK names and maps the snake_case aliases", () => {
    assert.deepEqual(eventFrom("CapturedSoundLevelUpdate", { event: "CapturedSoundLevelUpdate", level: 40 }), { event: "CapturedSoundLevelUpdate", level: 40 });
    assert.deepEqual(eventFrom("captured_sound_level_update", { event: "captured_sound_level_update", level: 12 }), { event: "CapturedSoundLevelUpdate", level: 12 });
    assert.deepEqual(eventFrom("remote_sound_level_update", { levels: { s1: 3 } }), { event: "RemoteSoundLevelUpdate", levels: { s1: 3 } });
    assert.deepEqual(eventFrom("HostStopped", { reason: "x" }), { event: "HostStopped", reason: "x" });
  });
});
