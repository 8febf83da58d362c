// The join form's rules (pure): what must be filled in, and the profile the
// home preview's engine uses.

import type { EngineProfile, Settings } from "./types.js";
import { isWsUrl } from "./invite.js";
import { utf8Length } from "./names.js";

/** The profile the home preview's engine uses: the last server when known (so joining it reuses the engine). */
export function previewProfile(s: Settings): EngineProfile {
  if (isWsUrl(s.last_server) && s.last_app_id) {
    return { server: s.last_server, app_id: s.last_app_id, app_sign: s.last_app_sign || undefined, scenario: "StandardVideoCall" };
  }
  return { server: "ws://127.0.0.1:9/ws", app_id: 1, scenario: "StandardVideoCall" };
}

export type JoinFieldError = { field: "server-url" | "room-id" | "app-id" | "app-sign" | "name"; message: string };

export interface JoinFields {
  name: string;
  server: string;
  room: string;
  appId: string;
  appSign: string;
}

/** Checks the join form; the first problem, or the values to join with. */
export function checkJoinFields(f: JoinFields): { ok: true; server: string; room: string; app_id: number; app_sign: string } | { ok: false; error: JoinFieldError } {
  const name = f.name.trim();
  if (!name) return { ok: false, error: { field: "name", message: "Enter your name so others know who you are." } };
  if (utf8Length(name) > 256) return { ok: false, error: { field: "name", message: "Use a shorter name (at most 256 bytes)." } };
  const server = f.server.trim();
  if (!isWsUrl(server)) return { ok: false, error: { field: "server-url", message: "Enter the server address, starting with ws:// or wss://." } };
  const room = f.room.trim();
  if (!room) return { ok: false, error: { field: "room-id", message: "Enter the room ID from the invite." } };
  const idText = f.appId.trim();
  const id = /^\d+$/.test(idText) ? Number(idText) : NaN;
  if (!Number.isSafeInteger(id) || id <= 0 || id > 0xffffffff) return { ok: false, error: { field: "app-id", message: "Enter the App ID: a number from the invite." } };
  const sign = f.appSign.trim();
  if (sign && !/^[0-9a-fA-F]{64}$/.test(sign)) return { ok: false, error: { field: "app-sign", message: "The App Sign is 64 hexadecimal characters." } };
  return { ok: true, server, room, app_id: id, app_sign: sign };
}
