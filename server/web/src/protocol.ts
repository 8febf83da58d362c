// The signaling protocol of protocol/src/message.rs, as the page speaks it:
// JSON text frames on /ws, a "type" field naming the variant in snake_case.
// The types and the error codes are generated from the Rust ones
// (generated/, `cargo run -p contract`).

export { ErrorCode } from "./generated/error-codes.js";
export { PROTOCOL_VERSION } from "./generated/protocol.js";
import type { TokenClaims } from "./generated/protocol.js";
export type {
  AckBody,
  BroadcastMessage,
  ClientMessage,
  IceCandidate,
  IceServer,
  LoginOk,
  MediaRole,
  RoomEvent,
  SequencedEvent,
  ServerMessage,
  StreamInfo,
  TokenClaims,
  UpdateType,
  UserInfo,
  VideoLayer,
} from "./generated/protocol.js";

/** Reads a token's claims for display; null when it is not a CF1 token. */
export function peekToken(token: string): TokenClaims | null {
  const parts = token.trim().split(".");
  if (parts.length !== 3 || parts[0] !== "CF1") return null;
  try {
    const b64 = parts[1]!.replace(/-/g, "+").replace(/_/g, "/");
    const json = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const claims = JSON.parse(json) as TokenClaims;
    return typeof claims.app_id === "number" && typeof claims.exp === "number" ? claims : null;
  } catch {
    return null;
  }
}
