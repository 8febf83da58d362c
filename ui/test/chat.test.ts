import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkMessage, formatClock, groupMessages, MAX_MESSAGE_BYTES, RateLimiter } from "../src/chat.js";
import type { ChatMessage } from "../src/state.js";

const m = (from: string, t: number, text = "x", own = false): ChatMessage => ({
  key: `${from}:${t}`, message_id: t, from: { user_id: from, user_name: from.toUpperCase() }, text, time_ms: t, own, status: own ? "sent" : "received", error: null,
});

describe("chat message rules", () => {
  it("trims, refuses empty, and counts the 1 KB limit in UTF-8 bytes", () => {
    assert.deepEqual(checkMessage("  hi \n"), { ok: true, text: "hi", bytes: 2 });
    assert.equal(checkMessage("   ").ok, false);
    assert.equal(checkMessage("a".repeat(MAX_MESSAGE_BYTES)).ok, true);
    const long = checkMessage("a".repeat(MAX_MESSAGE_BYTES + 1));
    assert.deepEqual([long.ok, long.ok ? "" : long.reason], [false, "too-long"]);
    // 342 × "€" (3 bytes each) = 1026 bytes although only 342 characters.
    const euros = checkMessage("€".repeat(342));
    assert.equal(euros.bytes, 1026);
    assert.equal(euros.ok, false);
  });

  it("rate limit: 10 messages per sliding second", () => {
    const r = new RateLimiter();
    for (let i = 0; i < 10; i++) assert.equal(r.take(1000 + i), true, `message ${i}`);
    assert.equal(r.take(1500), false);
    assert.equal(r.take(1999), false);
    assert.equal(r.take(2000), true, "the first one left the window");
    assert.equal(r.take(2000), false, "1001..1009 and 2000 fill it again");
    assert.equal(r.take(2001), true, "1001 left");
  });
});

describe("grouping", () => {
  it("groups consecutive messages of one sender less than a minute apart", () => {
    const groups = groupMessages([m("a", 0), m("a", 30_000), m("a", 89_999), m("b", 90_000), m("a", 91_000), m("a", 151_000)]);
    assert.deepEqual(
      groups.map((g) => [g.from_id, g.messages.length, g.time_ms]),
      [["a", 3, 0], ["b", 1, 90_000], ["a", 1, 91_000], ["a", 1, 151_000]],
    );
    assert.equal(groups[1]?.from_name, "B");
  });

  it("own messages form own groups", () => {
    const g = groupMessages([m("me", 0, "x", true), m("me", 1000, "y", true)]);
    assert.equal(g.length, 1);
    assert.equal(g[0]?.own, true);
  });

  it("empty input, empty output", () => {
    assert.deepEqual(groupMessages([]), []);
  });
});

describe("formatClock", () => {
  it("is HH:MM in local time", () => {
    const d = new Date(2024, 0, 2, 9, 5, 59);
    assert.equal(formatClock(d.getTime()), "09:05");
    assert.equal(formatClock(new Date(2024, 0, 2, 23, 59).getTime()), "23:59");
  });
});
