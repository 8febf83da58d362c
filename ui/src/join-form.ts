// The join form's rules (pure): what must be filled in, and the profile the
// home preview's engine uses.

import type { EngineProfile, Settings } from "./types.js";
import { isTokenShaped, isWsUrl, normalizeFingerprint, tokenInfo } from "./invite.js";
import { utf8Length } from "./names.js";

/** The profile the home preview's engine uses: the last server when known (so joining it reuses the engine). */
export function previewProfile(s: Settings): EngineProfile {
  if (isWsUrl(s.last_server) && s.last_app_id) {
    const p: EngineProfile = { server: s.last_server, app_id: s.last_app_id, scenario: "StandardVideoCall" };
    if (s.last_app_sign) p.app_sign = s.last_app_sign;
    const pin = normalizeFingerprint(s.last_pin);
    if (pin) p.pin = pin;
    return p;
  }
  return { server: "ws://127.0.0.1:9/ws", app_id: 1, scenario: "StandardVideoCall" };
}

export type JoinField = "name" | "server-url" | "room-id" | "invite-token" | "app-id" | "app-sign" | "server-pin";
export type JoinFieldError = { field: JoinField; message: string };

export interface JoinFields {
  name: string;
  server: string;
  room: string;
  /** The invite's access token. */
  token: string;
  appId: string;
  appSign: string;
  /** The certificate fingerprint (the invite's `fp`). */
  pin: string;
}

export interface JoinValues {
  ok: true;
  server: string;
  room: string;
  app_id: number;
  /** "" when joining with a token. */
  app_sign: string;
  /** "" when joining with the App Sign. */
  token: string;
  /** Normalised ("AB:CD:…"), "" when none. */
  pin: string;
}

/** The join form's fields inside the collapsed "Advanced (your own server)" disclosure. */
export const ADVANCED_FIELDS: readonly JoinField[] = ["app-id", "app-sign", "server-pin"];

/**
 * Checks the join form; the first problem, or the values to join with.
 * A guest needs the server, the room and the invite's token (the App ID
 * comes with the link); the App Sign replaces the token for people running
 * their own server. `nowMs` judges the token's expiry.
 */
export function checkJoinFields(f: JoinFields, nowMs = Date.now()): JoinValues | { ok: false; error: JoinFieldError } {
  const fail = (field: JoinField, message: string): { ok: false; error: JoinFieldError } => ({ ok: false, error: { field, message } });
  const name = f.name.trim();
  if (!name) return fail("name", "Enter your name so others know who you are.");
  if (utf8Length(name) > 256) return fail("name", "Use a shorter name (at most 256 bytes).");
  const server = f.server.trim();
  if (!isWsUrl(server)) return fail("server-url", "Enter the server address, starting with ws:// or wss://.");
  const room = f.room.trim();
  if (!room) return fail("room-id", "Enter the room ID from the invite.");
  const token = f.token.trim();
  const sign = f.appSign.trim();
  if (!token && !sign) return fail("invite-token", "Paste the host's invite link (it carries the access token), or enter your server's App Sign under Advanced.");
  if (token) {
    if (!isTokenShaped(token)) return fail("invite-token", "The access token looks damaged: copy the whole invite link again.");
    const info = tokenInfo(token);
    if (info?.exp != null && info.exp * 1000 <= nowMs) return fail("invite-token", "This invite has expired: ask the host for a new link.");
    if (info?.room_id != null && info.room_id !== room) return fail("room-id", `This invite is for room ${info.room_id}.`);
  }
  const idText = f.appId.trim();
  const id = /^\d+$/.test(idText) ? Number(idText) : NaN;
  if (!Number.isSafeInteger(id) || id <= 0 || id > 0xffffffff) return fail("app-id", "Enter the App ID: a number from the invite link or your server.");
  if (sign && !/^[0-9a-fA-F]{64}$/.test(sign)) return fail("app-sign", "The App Sign is 64 hexadecimal characters.");
  const pinText = f.pin.trim();
  const pin = pinText ? normalizeFingerprint(pinText) : "";
  if (pin === null) return fail("server-pin", "The certificate fingerprint is 32 pairs of hex digits separated by colons (AB:CD:…), as in the invite link.");
  return { ok: true, server, room, app_id: id, app_sign: token ? "" : sign, token, pin };
}
