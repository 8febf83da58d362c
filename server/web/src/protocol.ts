// The signaling protocol of protocol/src/message.rs, as the page speaks it:
// JSON text frames on /ws, a "type" field naming the variant in snake_case.

export const PROTOCOL_VERSION = 1;

export interface UserInfo {
  user_id: string;
  user_name: string;
}

export interface StreamInfo {
  stream_id: string;
  user: UserInfo;
  extra_info: string;
  audio_muted?: boolean;
  video_muted?: boolean;
}

export type UpdateType = "add" | "delete";
export type MediaRole = "publish" | "play";

export interface IceCandidate {
  candidate: string;
  sdp_mid: string | null;
  sdp_mline_index: number | null;
}

export interface BroadcastMessage {
  message_id: number;
  from_user: UserInfo;
  text: string;
  send_time_ms: number;
}

export type RoomEvent =
  | { kind: "user_update"; update_type: UpdateType; users: UserInfo[] }
  | { kind: "online_user_count"; count: number }
  | { kind: "stream_update"; update_type: UpdateType; streams: StreamInfo[] }
  | { kind: "stream_state_update"; stream_id: string; audio_muted: boolean; video_muted: boolean }
  | { kind: "broadcast"; message: BroadcastMessage };

export interface SequencedEvent {
  seq: number;
  event: RoomEvent;
}

export interface LoginOk {
  session_id: string;
  resume_key: string;
  room_id: string;
  users: UserInfo[];
  streams: StreamInfo[];
  online_count: number;
  seq: number;
  heartbeat_interval_ms: number;
  heartbeat_timeout_ms: number;
  token_expires_in_ms: number | null;
  /** STUN/TURN servers to use (TURN with short-lived credentials); older servers send none. */
  ice_servers?: IceServer[];
}

/** One entry of LoginOk.ice_servers (the RTCIceServer shape). */
export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

export type AckBody =
  | { kind: "logged_out" }
  // `publish` absent (older servers): granted.
  | { kind: "token_renewed"; expires_in_ms: number; publish?: boolean }
  | { kind: "broadcast_sent"; message_id: number }
  | { kind: "stream_published"; stream_id: string }
  | { kind: "stream_state_updated"; stream_id: string }
  | { kind: "stream_stopped"; stream_id: string }
  | { kind: "play_accepted"; stream_id: string }
  | { kind: "play_stopped"; stream_id: string };

export type ServerMessage =
  | { type: "challenge"; version: number; nonce: string }
  | ({ type: "login_ok" } & LoginOk)
  | { type: "login_failed"; code: number; message: string }
  | { type: "resumed"; missed: SequencedEvent[] }
  | { type: "resume_failed"; code: number; message: string }
  | ({ type: "event" } & SequencedEvent)
  | { type: "heartbeat_ack"; server_time_ms: number }
  | { type: "ack"; request_id: number; body: AckBody }
  | { type: "error"; request_id: number | null; code: number; message: string; fatal: boolean }
  | { type: "sdp_answer"; request_id: number; stream_id: string; role: MediaRole; sdp: string }
  | { type: "trickle_ice"; stream_id: string; role: MediaRole; candidate: IceCandidate }
  | { type: "stream_ready"; stream_id: string }
  | { type: "stream_ended"; stream_id: string }
  | { type: "kicked"; code: number; message: string }
  | { type: "session_expired"; code: number; message: string }
  | { type: "shutdown"; code: number; message: string };

export type ClientMessage =
  | {
      type: "login";
      version: number;
      app_id: number;
      room_id: string;
      user: UserInfo;
      credentials: { kind: "token"; token: string };
      notify_users: boolean;
      max_member_count: number;
    }
  | { type: "resume"; version: number; session_id: string; resume_key: string; last_seq: number }
  | { type: "heartbeat"; ack: number }
  | { type: "logout"; request_id: number }
  | { type: "renew_token"; request_id: number; token: string }
  | { type: "send_broadcast"; request_id: number; text: string }
  | {
      type: "publish_stream";
      request_id: number;
      stream_id: string;
      extra_info: string;
      audio_muted: boolean;
      video_muted: boolean;
    }
  | { type: "stream_state"; request_id: number; stream_id: string; audio_muted: boolean; video_muted: boolean }
  | { type: "stop_publishing"; request_id: number; stream_id: string }
  | { type: "play_stream"; request_id: number; stream_id: string }
  | { type: "stop_playing"; request_id: number; stream_id: string }
  | { type: "sdp_offer"; request_id: number; stream_id: string; role: MediaRole; sdp: string }
  | { type: "trickle_ice"; stream_id: string; role: MediaRole; candidate: IceCandidate };

/** The error codes the page itself uses (protocol/src/error_code.rs). */
export const Code = {
  Success: 0,
  NetworkInterrupted: 1_002_011,
  ReconnectTimeout: 1_002_012,
  KickedOut: 1_002_013,
  SessionExpired: 1_002_019,
  RequestTimeout: 1_002_020,
  PublishTransportFailed: 1_003_007,
  PlayTransportFailed: 1_004_004,
  StreamEnded: 1_004_005,
  StreamNotLive: 1_004_006,
  NoCamera: 1_006_001,
  NoMicrophone: 1_006_002,
  TokenNoPublishPrivilege: 1_007_008,
  MalformedMessage: 1_009_001,
  WrongState: 1_009_008,
} as const;

/** The claims of a token, read without checking it (protocol/src/token.rs). */
export interface TokenClaims {
  app_id: number;
  user_id: string;
  room_id: string | null;
  privileges: { login: boolean; publish: boolean };
  iat: number;
  exp: number;
}

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
