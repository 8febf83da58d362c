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

/** Reads a token's claims for display (unverified); null when it is neither
 * a Confer JWT (HS256, the server's format) nor a legacy `CF1.` token. */
export function peekToken(token: string): TokenClaims | null {
  const parts = token.trim().split(".");
  if (parts.length !== 3) return null;
  try {
    if (parts[0] !== "CF1") {
      const header = JSON.parse(base64url(parts[0]!)) as { alg?: unknown };
      if (header.alg !== "HS256") return null;
    }
    const claims = JSON.parse(base64url(parts[1]!)) as TokenClaims;
    // A JWT invite leaves user_id out; a CF1 invite has it empty.
    claims.user_id ??= "";
    return typeof claims.app_id === "number" && typeof claims.exp === "number" ? claims : null;
  } catch {
    return null;
  }
}

function base64url(part: string): string {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  return atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
}
