// The generated contract (contract/ts/, copied into src/generated/) against the UI:
// one example of every SDK event, serialized by media-core's serde code and
// type-checked against the generated `Event` at compile time, goes through
// the subscription list and the call-state reducer.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EVENT_NAMES } from "../src/generated/events.js";
import { ErrorCode, ERROR_MESSAGES, ERROR_NAMES } from "../src/generated/error-codes.js";
import { initialState, reduce, type Action } from "../src/state.js";
import { SDK_EVENT_NAMES } from "../src/types.js";
import { EVENT_EXAMPLES } from "../src/generated/event-examples.js";

describe("generated contract", () => {
  it("has one example of every event, and the UI subscribes to each", () => {
    assert.deepEqual(EVENT_EXAMPLES.map((e) => e.event), [...EVENT_NAMES]);
    for (const name of EVENT_NAMES) assert.ok(SDK_EVENT_NAMES.includes(name), name);
  });

  it("the reducer takes every event as the SDK serializes it", () => {
    const join: Action = { event: "app/join", room_id: "room-1", self: { user_id: "bob", user_name: "Bob" }, stream_id: "bob-main" };
    let s = reduce(initialState(), join);
    for (const e of EVENT_EXAMPLES) s = reduce(s, e);
    assert.equal(s.room_id, "room-1");
  });

  it("names and messages every error code", () => {
    for (const [name, code] of Object.entries(ErrorCode)) {
      assert.equal(ERROR_NAMES[code], name);
      assert.ok(ERROR_MESSAGES[code], name);
    }
    assert.equal(ErrorCode.KickedOut, 1002013);
  });
});
