// Small pure helpers about names and identifiers.

/** Up to two initials for a camera-off tile ("Ada Lovelace" -> "AL", "bob" -> "B"). */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return "?";
  const first = [...words[0]!][0] ?? "";
  const last = words.length > 1 ? [...words[words.length - 1]!][0] ?? "" : "";
  return (first + last).toLocaleUpperCase();
}

/** A stable hue (0-359) from a name, for the camera-off avatar colour (JM derives it the same way). */
export function hueFor(name: string): number {
  let h = 2166136261;
  for (const ch of name) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 360;
}

/** The main stream ID for a user: `${user_id}-main`, made of the stream ID alphabet [A-Za-z0-9_.-]. */
export function mainStreamId(userId: string): string {
  return `${streamIdBase(userId)}-main`;
}

/** The stream ID of a user's screen share (the aux channel): `${user_id}-screen`. */
export function shareStreamId(userId: string): string {
  return `${streamIdBase(userId)}${SHARE_SUFFIX}`;
}

const SHARE_SUFFIX = "-screen";

/** Whether a stream is a screen share (by the naming convention: its ID ends in `-screen`). */
export function isShareStream(streamId: string): boolean {
  return streamId.endsWith(SHARE_SUFFIX);
}

function streamIdBase(userId: string): string {
  return userId.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 240) || "user";
}

const ROOM_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";

/** A fresh room ID like "room-k7dm3q" (no look-alike characters). */
export function generateRoomId(random: () => number = Math.random): string {
  let s = "";
  for (let i = 0; i < 6; i++) s += ROOM_ALPHABET[Math.floor(random() * ROOM_ALPHABET.length)];
  return `room-${s}`;
}

/** A random user ID for when settings have none (Rust normally generates it once). */
export function generateUserId(random: () => number = Math.random): string {
  let s = "";
  for (let i = 0; i < 12; i++) s += ROOM_ALPHABET[Math.floor(random() * ROOM_ALPHABET.length)];
  return `u-${s}`;
}

/** Byte length of a string in UTF-8 (the SDK's limits are in bytes). */
export function utf8Length(s: string): number {
  return new TextEncoder().encode(s).byteLength;
}
