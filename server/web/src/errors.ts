// Error codes by number (the generated table of protocol/src/error_code.rs),
// with what to do about the ones a person fixes by hand.

import { ERROR_MESSAGES, ERROR_NAMES, type ErrorCode } from "./generated/error-codes.js";

export interface CodeInfo {
  code: number;
  name: keyof typeof ErrorCode;
  message: string;
}

function lookup(code: number): CodeInfo | undefined {
  const name = ERROR_NAMES[code as ErrorCode];
  return name ? { code, name, message: ERROR_MESSAGES[code as ErrorCode] } : undefined;
}

/** "TokenExpired (1007003)", or the number alone when unknown. */
export function codeName(code: number): string {
  const c = lookup(code);
  return c ? `${c.name} (${code})` : String(code);
}

/** The human message of a code ("" when unknown). */
export function codeMessage(code: number): string {
  return lookup(code)?.message ?? "";
}

const HINTS: Partial<Record<keyof typeof ErrorCode, string>> = {
  TokenExpired: "Mint a new token (Get dev token, or `confer token mint`) and log in again.",
  TokenForged:
    "The token's signature does not verify: it was altered, or minted with another server's secret. Mint it with this server's secret.",
  TokenWrongRoom: "The token was minted for another room. Mint one for this RoomID (or one without a room).",
  TokenWrongUser: "The token was minted for another UserID. Mint one for this UserID.",
  TokenWrongApp: "The token was minted for another AppID.",
  TokenMalformed: "That is not a Confer token (a JWT: three dot-separated parts). Paste the whole token.",
  TokenNoLoginPrivilege: "The token does not allow logging in; mint one without --no-login.",
  TokenNoPublishPrivilege:
    "The token does not allow publishing (the room stays joined and playing works); renew it with one minted without --no-publish, then publish again.",
  TokenMintingDisabled: "This server runs a production config: mint tokens with `confer token mint` on the server.",
  AppNotFound: "No app with this AppID is registered on this server.",
  KickedOut: "The same UserID logged in somewhere else.",
  RoomFull: "The room has reached its member limit.",
  StreamIdInUse: "Another user publishes this stream ID; pick another.",
};

/** A sentence for a person: what went wrong and how to fix it. */
export function explain(code: number, serverMessage = ""): string {
  const c = lookup(code);
  const what = serverMessage || c?.message || "error";
  const hint = c ? HINTS[c.name] : undefined;
  return `${what} — ${codeName(code)}${hint ? `. ${hint}` : ""}`;
}
