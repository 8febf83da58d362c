import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pinIndex, SHORTCUT_HELP, SHORTCUT_KEYS, shortcutFor, type KeyInput } from "../src/shortcuts.js";

const key = (k: string, more: Partial<KeyInput> = {}): KeyInput => ({
  type: "keydown", key: k, ctrl: false, meta: false, alt: false, shift: false, repeat: false, inTextField: false, ...more,
});
const unmuted = { micMuted: false, pttActive: false };
const muted = { micMuted: true, pttActive: false };
/** `k` does nothing with each of these (in a text field, with a modifier, auto-repeated, ...). */
const assertIgnored = (k: string, cases: Partial<KeyInput>[]): void => {
  for (const more of cases) assert.equal(shortcutFor(key(k, more), unmuted), null, `${k} ${JSON.stringify(more)}`);
};

describe("shortcuts (UX.md §3)", () => {
  it("letters: M mic, V camera, C chat, P people, ? help (any case of the letter key)", () => {
    assert.equal(shortcutFor(key("m"), unmuted), "toggle-mic");
    assert.equal(shortcutFor(key("v"), unmuted), "toggle-camera");
    assert.equal(shortcutFor(key("c"), unmuted), "toggle-chat");
    assert.equal(shortcutFor(key("p"), unmuted), "toggle-people");
    assert.equal(shortcutFor(key("?", { shift: true }), unmuted), "help");
    assert.equal(shortcutFor(key("M", { code: "KeyM" }), unmuted), "toggle-mic", "Caps Lock");
    assert.equal(shortcutFor(key("x"), unmuted), null);
  });

  it("letters do nothing in text fields, with Ctrl/Cmd/Alt, with Shift, or on auto-repeat", () => {
    assert.equal(shortcutFor(key("m", { inTextField: true }), unmuted), null);
    assert.equal(shortcutFor(key("m", { alt: true }), unmuted), null);
    assert.equal(shortcutFor(key("c", { ctrl: true }), unmuted), null);
    assert.equal(shortcutFor(key("M", { shift: true }), unmuted), null);
    assert.equal(shortcutFor(key("m", { repeat: true }), unmuted), null);
  });

  it("Ctrl/Cmd+D and Ctrl/Cmd+E work everywhere, text fields included", () => {
    assert.equal(shortcutFor(key("d", { ctrl: true }), unmuted), "toggle-mic");
    assert.equal(shortcutFor(key("e", { meta: true }), unmuted), "toggle-camera");
    assert.equal(shortcutFor(key("d", { ctrl: true, inTextField: true }), unmuted), "toggle-mic");
    assert.equal(shortcutFor(key("d", { ctrl: true, alt: true }), unmuted), null);
    assert.equal(shortcutFor(key("d", { ctrl: true, shift: true }), unmuted), null);
  });

  it("Esc always maps to escape (blur / close)", () => {
    assert.equal(shortcutFor(key("Escape"), unmuted), "escape");
    assert.equal(shortcutFor(key("Escape", { inTextField: true }), unmuted), "escape");
  });

  it("push-to-talk: Space down while muted unmutes, Space up re-mutes; repeats and unmuted Space do nothing", () => {
    const space = (more: Partial<KeyInput> = {}): KeyInput => key(" ", { code: "Space", ...more });
    assert.equal(shortcutFor(space(), muted), "ptt-down");
    assert.equal(shortcutFor(space({ repeat: true }), { micMuted: false, pttActive: true }), null);
    assert.equal(shortcutFor(space({ type: "keyup" }), { micMuted: false, pttActive: true }), "ptt-up");
    assert.equal(shortcutFor(space({ type: "keyup" }), muted), null, "no PTT in progress");
    assert.equal(shortcutFor(space(), unmuted), null);
    assert.equal(shortcutFor(space({ inTextField: true }), muted), null, "typing a space");
    assert.equal(shortcutFor(space({ onControl: true }), muted), null, "Space presses the focused button");
    // The key-up still ends PTT even if focus moved into a text field meanwhile.
    assert.equal(shortcutFor(space({ type: "keyup", inTextField: true }), { micMuted: false, pttActive: true }), "ptt-up");
  });

  it("Page Up / Page Down turn grid pages; key-ups of other keys do nothing", () => {
    assert.equal(shortcutFor(key("PageUp"), unmuted), "page-prev");
    assert.equal(shortcutFor(key("PageDown"), unmuted), "page-next");
    assert.equal(shortcutFor(key("m", { type: "keyup" }), unmuted), null);
  });

  it("W switches grid / speaker view, with the letter rules (not in text fields, not with Ctrl, not repeated)", () => {
    assert.equal(shortcutFor(key("w"), unmuted), "toggle-layout");
    assert.equal(shortcutFor(key("W", { code: "KeyW" }), unmuted), "toggle-layout", "Caps Lock");
    assertIgnored("w", [{ inTextField: true }, { ctrl: true }, { meta: true }, { repeat: true }]);
    assert.equal(SHORTCUT_KEYS["toggle-layout"], "W");
  });

  it("0 pins yourself, 1-9 the n-th remote tile; not in text fields, not with modifiers", () => {
    assert.equal(shortcutFor(key("0"), unmuted), "pin-0");
    assert.equal(shortcutFor(key("1"), unmuted), "pin-1");
    assert.equal(shortcutFor(key("9"), unmuted), "pin-9");
    assert.equal(pinIndex("pin-0"), 0);
    assert.equal(pinIndex("pin-7"), 7);
    assert.equal(pinIndex("toggle-mic"), null);
    assertIgnored("1", [{ inTextField: true }, { ctrl: true }, { alt: true }, { repeat: true }]);
    assert.equal(shortcutFor(key("!", { shift: true }), unmuted), null);
    assert.equal(SHORTCUT_KEYS["pin-3"], "3");
  });

  it("the help lists the layout and pin keys", () => {
    const keys = SHORTCUT_HELP.flatMap((r) => r.combos.flat());
    for (const k of ["W", "0", "1–9"]) assert.ok(keys.includes(k), k);
  });
});
