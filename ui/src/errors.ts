// What to tell the user about an error code: a title (what happened) and a
// detail (what still works, or the one thing to do). UX.md §1/§4. The codes
// are protocol::ErrorCode's (generated/error-codes.ts); unknown codes fall
// back to the SDK's message.

import { ErrorCode } from "./generated/error-codes.js";

export interface ErrorText {
  title: string;
  detail: string;
}


const TEXT: Partial<Record<ErrorCode, ErrorText>> = {
  [ErrorCode.InvalidAppId]: { title: "Check the App ID", detail: "It must be a number other than 0, as printed by the server." },
  [ErrorCode.InvalidAppSign]: { title: "Check the App Sign", detail: "It must be 64 hexadecimal characters, as printed by the server." },
  [ErrorCode.InvalidServerUrl]: { title: "Check the server address", detail: "It must start with ws:// or wss://, e.g. ws://192.168.1.20:8080/ws." },
  [ErrorCode.InvalidRoomId]: { title: "Check the room ID", detail: "Use 1–128 letters, digits or simple punctuation." },
  [ErrorCode.InvalidUserName]: { title: "Check your name", detail: "Use at most 256 bytes and no control characters." },
  [ErrorCode.NetworkInterrupted]: { title: "Connection lost", detail: "Reconnecting… your call continues when the network is back." },
  [ErrorCode.ReconnectTimeout]: { title: "You have been disconnected", detail: "Could not reconnect in time. Check your network, then rejoin." },
  [ErrorCode.KickedOut]: { title: "You joined from another device", detail: "This window left the call because the same user signed in elsewhere." },
  [ErrorCode.AppNotFound]: { title: "This server doesn't know that App ID", detail: "Check the App ID in the invite." },
  [ErrorCode.AppSignMismatch]: { title: "The App Sign is wrong", detail: "Copy the App Sign from the invite again." },
  [ErrorCode.RoomFull]: { title: "The room is full", detail: "Ask the host to make room, or try later." },
  [ErrorCode.SessionExpired]: { title: "Your session expired", detail: "Rejoin to continue." },
  [ErrorCode.RequestTimeout]: { title: "The server did not answer", detail: "Check the address and your network, then try again." },
  // Confer's user ID is generated once per install (not the name): a clash is this install already in the call.
  [ErrorCode.UserIdInUse]: { title: "You're already in this call", detail: "Someone in it uses this app's user ID: most likely Confer on this computer (another window, or the host's own app). Leave there first, then rejoin." },
  [ErrorCode.TlsUntrusted]: { title: "The server's certificate is not trusted", detail: "Join with the host's invite link: it carries the certificate's fingerprint." },
  [ErrorCode.TlsExpired]: { title: "The server's certificate has expired", detail: "Ask the host to renew it, or check this computer's clock." },
  [ErrorCode.TlsNameMismatch]: { title: "The certificate is for another address", detail: "Use the address from the invite link." },
  [ErrorCode.TlsPinMismatch]: { title: "This is not the host's server", detail: "Its certificate does not match the invite. Ask the host for a fresh link; do not continue on this network if you did not expect this." },
  [ErrorCode.PlainToTlsPort]: { title: "The server speaks TLS", detail: "Use an address starting with wss://." },
  [ErrorCode.TlsToPlainPort]: { title: "The server does not speak TLS", detail: "Use an address starting with ws://." },
  [ErrorCode.TlsFailed]: { title: "Secure connection failed", detail: "Check the address and your network, then try again." },
  [ErrorCode.TokenMalformed]: { title: "The invite is damaged", detail: "Copy the whole invite link again." },
  [ErrorCode.TokenForged]: { title: "The invite is not valid for this server", detail: "Ask the host for a new invite link." },
  [ErrorCode.TokenExpired]: { title: "The invite has expired", detail: "Ask the host for a new invite link." },
  [ErrorCode.TokenWrongRoom]: { title: "The invite is for another room", detail: "Join the room named in the invite link." },
  [ErrorCode.BroadcastEmpty]: { title: "Message not sent", detail: "The message is empty." },
  [ErrorCode.BroadcastTooLong]: { title: "Message not sent", detail: "Messages can be at most 1 KB." },
  [ErrorCode.BroadcastRateLimited]: { title: "Message not sent", detail: "Too many messages in this room right now; wait a second and retry." },
  [ErrorCode.PublishTransportFailed]: { title: "Your video connection dropped", detail: "Retrying automatically." },
  [ErrorCode.PlayTransportFailed]: { title: "A video connection dropped", detail: "Retrying automatically." },
  [ErrorCode.NoCamera]: { title: "Camera was not found", detail: "You can still join; others see a test pattern. Pick a camera in the camera menu." },
  [ErrorCode.NoMicrophone]: { title: "Microphone was not found", detail: "You can still join; others won't hear you. Pick a microphone in the mic menu." },
  [ErrorCode.DeviceNotFound]: { title: "That device is gone", detail: "Select another device in the menu." },
  [ErrorCode.DeviceOpenFailed]: { title: "Can't open the device", detail: "Check if another application is using it, or select another device." },
  [ErrorCode.ServerShuttingDown]: { title: "The server is shutting down", detail: "The call has ended." },
  [ErrorCode.TooManyConnections]: { title: "The server is full", detail: "Try again later." },
};

/** The user-facing text for `code`; `fallback` (the SDK's message) when the code has no entry. */
export function describeError(code: number, fallback = ""): ErrorText {
  const t = TEXT[code as ErrorCode];
  if (t) return t;
  return { title: "Something went wrong", detail: fallback || "An unexpected error happened." };
}
