import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { buildInvite, expiryText, inviteSummary, isTokenShaped, isWsUrl, normalizeFingerprint, parseInvite, serverHost, timeLeft, tokenExpired, tokenInfo } from "../src/invite.js";
import { token } from "./fake-api.js";

const SIGN = "0123456789abcdef".repeat(4);
const FP = "3F:9A:0C:77:E1:52:B4:08:6D:C3:29:FA:10:8E:5B:47:D2:61:0F:AC:93:3E:7B:C5:48:1D:E6:02:BF:74:A9:58";
const NOW = 1_800_000_000_000; // ms
const TOKEN = token({ room_id: "room-k7dm3q", exp: NOW / 1000 + 3 * 3600 });

describe("invite links", () => {
  it("parses a host's invite: server, app id, room, token and fingerprint", () => {
    const inv = parseInvite(`confer://join?server=wss%3A%2F%2F192.168.1.20%3A40123%2Fws&app_id=1234567&room=room-k7dm3q&token=${TOKEN}&fp=${encodeURIComponent(FP)}`);
    assert.deepEqual(inv, { server: "wss://192.168.1.20:40123/ws", app_id: 1234567, room: "room-k7dm3q", token: TOKEN, fp: FP, legacy_app_sign: "", bad_fp: false });
  });

  it("a link without TLS has no fp", () => {
    const inv = parseInvite(`confer://join?server=ws%3A%2F%2F127.0.0.1%3A40123%2Fws&app_id=7&room=r&token=${TOKEN}`);
    assert.equal(inv?.fp, "");
    assert.equal(inv?.bad_fp, false);
  });

  it("old-style links: the AppSign is kept apart (legacy_app_sign), never as the invite's", () => {
    const inv = parseInvite(`confer://join?server=ws%3A%2F%2F192.168.1.20%3A40123%2Fws&app_id=1234567&app_sign=${SIGN}&room=room-k7dm3q`);
    assert.deepEqual(inv, { server: "ws://192.168.1.20:40123/ws", app_id: 1234567, room: "room-k7dm3q", token: "", fp: "", legacy_app_sign: SIGN, bad_fp: false });
    assert.equal(buildInvite(inv!).includes("app_sign"), false);
  });

  it("accepts unencoded servers, surrounding whitespace and a missing room", () => {
    const inv = parseInvite(`  confer://join?server=wss://calls.example.org/ws&app_id=7  `);
    assert.deepEqual(inv, { server: "wss://calls.example.org/ws", app_id: 7, room: "", token: "", fp: "", legacy_app_sign: "", bad_fp: false });
  });

  it("accepts a bare query string", () => {
    assert.equal(parseInvite("server=ws://h:1/ws&room=r")?.room, "r");
  });

  it("rejects garbage: text without a ws:// server", () => {
    for (const t of ["", "   ", "hello", "confer://join?server=http://x/ws&app_id=1", "confer://join?app_id=1&room=r", "confer://join?server=ws://&room=r", "%%%?&&=="]) {
      assert.equal(parseInvite(t), null, t);
    }
  });

  it("an invalid app_id becomes null instead of NaN", () => {
    for (const id of ["abc", "0", "-5", "4294967296", "1e3"]) assert.equal(parseInvite(`confer://join?server=ws://h/ws&app_id=${id}`)?.app_id, null, id);
  });

  it("a fingerprint that is not 32 colon-hex bytes is ignored and flagged", () => {
    for (const fp of ["AB:CD", "AB:".repeat(32) + "AB", "ZZ:".repeat(31) + "ZZ", "not-a-fingerprint", "AB-".repeat(31) + "AB"]) {
      const inv = parseInvite(`confer://join?server=wss://h/ws&app_id=1&room=r&token=${TOKEN}&fp=${encodeURIComponent(fp)}`);
      assert.equal(inv?.fp, "", fp);
      assert.equal(inv?.bad_fp, true, fp);
      const hint = inviteSummary(inv!, NOW);
      assert.equal(hint.kind, "error");
      assert.match(hint.text, /fingerprint is damaged/);
    }
  });

  it("fingerprints are normalised to uppercase colon form (lowercase and bare hex accepted)", () => {
    assert.equal(normalizeFingerprint(FP.toLowerCase()), FP);
    assert.equal(normalizeFingerprint(FP.replace(/:/g, "")), FP);
    assert.equal(normalizeFingerprint(` ${FP} `), FP);
    assert.equal(normalizeFingerprint(FP.slice(3)), null, "31 bytes");
    assert.equal(normalizeFingerprint(""), null);
    assert.equal(parseInvite(`server=wss://h/ws&fp=${FP.toLowerCase()}`)?.fp, FP);
  });

  it("build then parse round-trips token and fingerprint, in the contract's order, without an AppSign", () => {
    const inv = { server: "wss://10.0.0.5:40123/ws", app_id: 99, room: "room-abc", token: TOKEN, fp: FP };
    const link = buildInvite(inv);
    assert.ok(link.startsWith("confer://join?server=wss%3A%2F%2F10.0.0.5%3A40123%2Fws&app_id=99&room=room-abc&token=eyJ"), link);
    assert.deepEqual(parseInvite(link), { ...inv, legacy_app_sign: "", bad_fp: false });
    const plain = buildInvite({ ...inv, server: "ws://127.0.0.1:1/ws", fp: "" });
    assert.equal(plain.includes("fp="), false);
    assert.deepEqual(parseInvite(plain), { ...inv, server: "ws://127.0.0.1:1/ws", fp: "", legacy_app_sign: "", bad_fp: false });
  });

  it("isWsUrl and serverHost", () => {
    assert.equal(isWsUrl("ws://127.0.0.1:8080/ws"), true);
    assert.equal(isWsUrl("WSS://example.org"), true);
    assert.equal(isWsUrl("http://example.org"), false);
    assert.equal(isWsUrl("ws://"), false);
    assert.equal(serverHost("wss://192.168.1.20:40123/ws"), "192.168.1.20:40123");
    assert.equal(serverHost("odd"), "odd");
  });
});

describe("invite tokens", () => {
  it("reads the claims of a JWT or a legacy CF1 token; anything else is null", () => {
    assert.deepEqual(tokenInfo(TOKEN), { app_id: 4242, room_id: "room-k7dm3q", exp: NOW / 1000 + 3 * 3600 });
    const legacy = token({ room_id: "r", exp: 5 }, "cf1");
    assert.deepEqual(tokenInfo(legacy), { app_id: 4242, room_id: "r", exp: 5 });
    const none = TOKEN.replace(/^[^.]+/, btoa(JSON.stringify({ alg: "none" })).replace(/=+$/, ""));
    assert.equal(isTokenShaped(none), false, "only HS256 JWTs");
    assert.equal(isTokenShaped("e30.e30.c2ln"), false, "a header without alg");
    assert.equal(tokenInfo("CF1.bm90LWpzb24.c2ln"), null, "not JSON");
    assert.equal(tokenInfo("CF2.e30.c2ln"), null);
    assert.equal(tokenInfo("CF1..sig"), null);
    assert.equal(tokenInfo(""), null);
    assert.equal(isTokenShaped(` ${TOKEN} `), true);
    assert.equal(isTokenShaped("CF1.a b.c"), false);
  });
  it("expiry", () => {
    assert.equal(tokenExpired(TOKEN, NOW), false);
    assert.equal(tokenExpired(TOKEN, NOW + 3 * 3600 * 1000), true);
    assert.equal(tokenExpired("garbage", NOW), false, "unknown expiry: the server decides");
    assert.equal(timeLeft(NOW + 30_000, NOW), "in under a minute");
    assert.equal(timeLeft(NOW + 45 * 60_000, NOW), "in 45 min");
    assert.equal(timeLeft(NOW + 23.5 * 3600_000, NOW), "in 23 h");
    assert.equal(timeLeft(NOW + 72 * 3600_000, NOW), "in 3 days");
    assert.match(expiryText(NOW / 1000 + 3600, NOW), /^Expires in 60 min \((tomorrow )?at \d\d:\d\d\)$/);
    assert.match(expiryText(NOW / 1000 - 60, NOW), /^Expired (yesterday )?at \d\d:\d\d$/);
  });
});

describe("the join form's hint after a paste", () => {
  const base = { server: "wss://192.168.1.20:40123/ws", app_id: 7, room: "room-k7dm3q", token: TOKEN, fp: FP, legacy_app_sign: "", bad_fp: false };
  it("says what it filled in and that the host's certificate secures it", () => {
    const h = inviteSummary(base, NOW);
    assert.equal(h.kind, "ok");
    assert.match(h.text, /^Invite for room room-k7dm3q on 192\.168\.1\.20:40123 — secured with the host's certificate\. Expires in 3 h/);
  });
  it("no fingerprint: no claim of being secured (wss alone: a secure connection)", () => {
    assert.doesNotMatch(inviteSummary({ ...base, server: "ws://h:1/ws", fp: "" }, NOW).text, /secure/);
    assert.match(inviteSummary({ ...base, fp: "" }, NOW).text, /— secure connection\./);
  });
  it("an expired or damaged token is an error; a missing one a warning; an old link's App Sign a warning", () => {
    assert.equal(inviteSummary(base, NOW + 4 * 3600_000).kind, "error");
    assert.match(inviteSummary(base, NOW + 4 * 3600_000).text, /Expired (yesterday )?at .*ask the host for a new link/);
    assert.equal(inviteSummary({ ...base, token: "CF1.x" }, NOW).kind, "error");
    assert.equal(inviteSummary({ ...base, token: "" }, NOW).kind, "warning");
    const old = inviteSummary({ ...base, token: "", fp: "", legacy_app_sign: SIGN }, NOW);
    assert.equal(old.kind, "warning");
    assert.match(old.text, /old-style link/);
    assert.match(inviteSummary({ ...base, room: "" }, NOW).text, /add the room ID/);
  });
});
