import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { buildInvite, isWsUrl, parseInvite } from "../src/invite.js";

const SIGN = "0123456789abcdef".repeat(4);

describe("invite links", () => {
  it("parses a host's invite with an added room", () => {
    const inv = parseInvite(`confer://join?server=ws%3A%2F%2F192.168.1.20%3A40123%2Fws&app_id=1234567&app_sign=${SIGN}&room=room-k7dm3q`);
    assert.deepEqual(inv, { server: "ws://192.168.1.20:40123/ws", app_id: 1234567, app_sign: SIGN, room: "room-k7dm3q" });
  });

  it("accepts unencoded servers, surrounding whitespace and a missing room", () => {
    const inv = parseInvite(`  confer://join?server=wss://calls.example.org/ws&app_id=7  `);
    assert.deepEqual(inv, { server: "wss://calls.example.org/ws", app_id: 7, app_sign: "", room: "" });
  });

  it("accepts a bare query string", () => {
    assert.equal(parseInvite("server=ws://h:1/ws&room=r")?.room, "r");
  });

  it("rejects text without a ws:// server", () => {
    assert.equal(parseInvite(""), null);
    assert.equal(parseInvite("hello"), null);
    assert.equal(parseInvite("confer://join?server=http://x/ws&app_id=1"), null);
    assert.equal(parseInvite("confer://join?app_id=1&room=r"), null);
  });

  it("an invalid app_id becomes null instead of NaN", () => {
    assert.equal(parseInvite("confer://join?server=ws://h/ws&app_id=abc")?.app_id, null);
    assert.equal(parseInvite("confer://join?server=ws://h/ws&app_id=0")?.app_id, null);
    assert.equal(parseInvite("confer://join?server=ws://h/ws&app_id=-5")?.app_id, null);
  });

  it("build then parse round-trips, keeping the base invite's other parameters", () => {
    const base = `confer://join?server=ws%3A%2F%2F127.0.0.1%3A40123%2Fws&app_id=99&app_sign=${SIGN}&v=1`;
    const link = buildInvite({ server: "ws://10.0.0.5:40123/ws", app_id: 99, app_sign: SIGN, room: "room-abc" }, base);
    assert.ok(link.startsWith("confer://join?"));
    assert.ok(link.includes("v=1"));
    assert.deepEqual(parseInvite(link), { server: "ws://10.0.0.5:40123/ws", app_id: 99, app_sign: SIGN, room: "room-abc" });
  });

  it("isWsUrl", () => {
    assert.equal(isWsUrl("ws://127.0.0.1:8080/ws"), true);
    assert.equal(isWsUrl("WSS://example.org"), true);
    assert.equal(isWsUrl("http://example.org"), false);
    assert.equal(isWsUrl("ws://"), false);
  });
});
