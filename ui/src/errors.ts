// What to tell the user about an error code: a title (what happened) and a
// detail (what still works, or the one thing to do). UX.md §1/§4. The numbers
// are protocol::ErrorCode's; unknown codes fall back to the SDK's message.

export interface ErrorText {
  title: string;
  detail: string;
}

export const Codes = {
  EngineDestroyed: 1_000_001,
  InvalidAppId: 1_000_002,
  InvalidAppSign: 1_000_003,
  InvalidServerUrl: 1_000_004,
  NotLoggedIn: 1_002_001,
  InvalidRoomId: 1_002_003,
  InvalidUserId: 1_002_004,
  InvalidUserName: 1_002_005,
  NetworkInterrupted: 1_002_011,
  ReconnectTimeout: 1_002_012,
  KickedOut: 1_002_013,
  AppNotFound: 1_002_014,
  AppSignMismatch: 1_002_015,
  RoomFull: 1_002_016,
  SessionExpired: 1_002_019,
  RequestTimeout: 1_002_020,
  UserIdInUse: 1_002_021,
  BroadcastEmpty: 1_002_030,
  TlsUntrusted: 1_002_040,
  TlsExpired: 1_002_041,
  TlsNameMismatch: 1_002_042,
  TlsPinMismatch: 1_002_043,
  PlainToTlsPort: 1_002_044,
  TlsToPlainPort: 1_002_045,
  TlsFailed: 1_002_046,
  TokenMalformed: 1_007_001,
  TokenForged: 1_007_002,
  TokenExpired: 1_007_003,
  TokenWrongRoom: 1_007_006,
  BroadcastTooLong: 1_002_031,
  BroadcastRateLimited: 1_002_032,
  PublishTransportFailed: 1_003_007,
  PlayTransportFailed: 1_004_004,
  StreamEnded: 1_004_005,
  NoCamera: 1_006_001,
  NoMicrophone: 1_006_002,
  DeviceNotFound: 1_006_003,
  DeviceOpenFailed: 1_006_004,
  ServerShuttingDown: 1_009_009,
  TooManyConnections: 1_009_010,
  Internal: 1_009_012,
} as const;

const TEXT: Record<number, ErrorText> = {
  [Codes.InvalidAppId]: { title: "Check the App ID", detail: "It must be a number other than 0, as printed by the server." },
  [Codes.InvalidAppSign]: { title: "Check the App Sign", detail: "It must be 64 hexadecimal characters, as printed by the server." },
  [Codes.InvalidServerUrl]: { title: "Check the server address", detail: "It must start with ws:// or wss://, e.g. ws://192.168.1.20:8080/ws." },
  [Codes.InvalidRoomId]: { title: "Check the room ID", detail: "Use 1–128 letters, digits or simple punctuation." },
  [Codes.InvalidUserName]: { title: "Check your name", detail: "Use at most 256 bytes and no control characters." },
  [Codes.NetworkInterrupted]: { title: "Connection lost", detail: "Reconnecting… your call continues when the network is back." },
  [Codes.ReconnectTimeout]: { title: "You have been disconnected", detail: "Could not reconnect in time. Check your network, then rejoin." },
  [Codes.KickedOut]: { title: "You joined from another device", detail: "This window left the call because the same user signed in elsewhere." },
  [Codes.AppNotFound]: { title: "This server doesn't know that App ID", detail: "Check the App ID in the invite." },
  [Codes.AppSignMismatch]: { title: "The App Sign is wrong", detail: "Copy the App Sign from the invite again." },
  [Codes.RoomFull]: { title: "The room is full", detail: "Ask the host to make room, or try later." },
  [Codes.SessionExpired]: { title: "Your session expired", detail: "Rejoin to continue." },
  [Codes.RequestTimeout]: { title: "The server did not answer", detail: "Check the address and your network, then try again." },
  // Confer's user ID is generated once per install (not the name): a clash is this install already in the call.
  [Codes.UserIdInUse]: { title: "You're already in this call", detail: "Someone in it uses this app's user ID: most likely Confer on this computer (another window, or the host's own app). Leave there first, then rejoin." },
  [Codes.TlsUntrusted]: { title: "The server's certificate is not trusted", detail: "Join with the host's invite link: it carries the certificate's fingerprint." },
  [Codes.TlsExpired]: { title: "The server's certificate has expired", detail: "Ask the host to renew it, or check this computer's clock." },
  [Codes.TlsNameMismatch]: { title: "The certificate is for another address", detail: "Use the address from the invite link." },
  [Codes.TlsPinMismatch]: { title: "This is not the host's server", detail: "Its certificate does not match the invite. Ask the host for a fresh link; do not continue on this network if you did not expect this." },
  [Codes.PlainToTlsPort]: { title: "The server speaks TLS", detail: "Use an address starting with wss://." },
  [Codes.TlsToPlainPort]: { title: "The server does not speak TLS", detail: "Use an address starting with ws://." },
  [Codes.TlsFailed]: { title: "Secure connection failed", detail: "Check the address and your network, then try again." },
  [Codes.TokenMalformed]: { title: "The invite is damaged", detail: "Copy the whole invite link again." },
  [Codes.TokenForged]: { title: "The invite is not valid for this server", detail: "Ask the host for a new invite link." },
  [Codes.TokenExpired]: { title: "The invite has expired", detail: "Ask the host for a new invite link." },
  [Codes.TokenWrongRoom]: { title: "The invite is for another room", detail: "Join the room named in the invite link." },
  [Codes.BroadcastEmpty]: { title: "Message not sent", detail: "The message is empty." },
  [Codes.BroadcastTooLong]: { title: "Message not sent", detail: "Messages can be at most 1 KB." },
  [Codes.BroadcastRateLimited]: { title: "Message not sent", detail: "Too many messages in this room right now; wait a second and retry." },
  [Codes.PublishTransportFailed]: { title: "Your video connection dropped", detail: "Retrying automatically." },
  [Codes.PlayTransportFailed]: { title: "A video connection dropped", detail: "Retrying automatically." },
  [Codes.NoCamera]: { title: "Camera was not found", detail: "You can still join; others see a test pattern. Pick a camera in the camera menu." },
  [Codes.NoMicrophone]: { title: "Microphone was not found", detail: "You can still join; others won't hear you. Pick a microphone in the mic menu." },
  [Codes.DeviceNotFound]: { title: "That device is gone", detail: "Select another device in the menu." },
  [Codes.DeviceOpenFailed]: { title: "Can't open the device", detail: "Check if another application is using it, or select another device." },
  [Codes.ServerShuttingDown]: { title: "The server is shutting down", detail: "The call has ended." },
  [Codes.TooManyConnections]: { title: "The server is full", detail: "Try again later." },
};

/** The user-facing text for `code`; `fallback` (the SDK's message) when the code has no entry. */
export function describeError(code: number, fallback = ""): ErrorText {
  const t = TEXT[code];
  if (t) return t;
  return { title: "Something went wrong", detail: fallback || "An unexpected error happened." };
}
