// Invite links (docs/app-contract.md `host_invite`):
//   confer://join?server=<ws(s) url>&app_id=<n>&room=<id>&token=<JWT, or a legacy CF1.…>&fp=<fingerprint>
// The token is room-scoped and expiring, for any user ID not in use; `fp` is
// the SHA-256 fingerprint of the host's self-signed TLS certificate (absent
// without TLS), which the SDK pins. Links never carry the AppSign any more;
// an old link that does may still fill the App Sign field under Advanced.

import { formatClock } from "./chat.js";

export interface Invite {
  server: string;
  app_id: number | null;
  room: string;
  /** "" when the link has none. */
  token: string;
  /** Uppercase colon-separated hex ("AB:CD:…", 32 bytes); "" when none. */
  fp: string;
}

export interface ParsedInvite extends Invite {
  /** An old-style link's `app_sign` (new links never carry it); "" when none. */
  legacy_app_sign: string;
  /** The link had an `fp` that is not a SHA-256 fingerprint: it was ignored. */
  bad_fp: boolean;
}

/** Whether `s` is a ws:// or wss:// URL (what create_engine accepts). */
export function isWsUrl(s: string): boolean {
  return /^wss?:\/\/[^\s/?#]+/i.test(s.trim());
}

/**
 * A certificate fingerprint in the SDK's form ("AB:CD:…", 32 bytes, uppercase),
 * from colon-separated hex in any case (or 64 bare hex digits); null otherwise.
 */
export function normalizeFingerprint(s: string): string | null {
  const t = s.trim();
  let hex: string;
  if (/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){31}$/.test(t)) hex = t.replace(/:/g, "");
  else if (/^[0-9a-fA-F]{64}$/.test(t)) hex = t;
  else return null;
  return hex.toUpperCase().match(/../g)!.join(":");
}

/** What an invite token says about itself (its claims are signed, not secret). */
export interface TokenInfo {
  app_id: number | null;
  /** The room it is limited to; null: any room. */
  room_id: string | null;
  /** Expiry, Unix seconds. */
  exp: number | null;
}

/**
 * Whether `t` has a token's format: a Confer JWT
 * (`<base64url({"alg":"HS256",...})>.<base64url(claims)>.<base64url(sig)>`,
 * what the server and the app's invites mint) or a legacy
 * `CF1.<base64url>.<base64url>` token.
 */
export function isTokenShaped(t: string): boolean {
  const parts = t.trim().split(".");
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) return false;
  if (parts[0] === "CF1") return true;
  const header = jsonPart(parts[0]!);
  return !!header && typeof header === "object" && (header as Record<string, unknown>).alg === "HS256";
}

/** A base64url JSON part of a token, parsed; null when it is not one. */
function jsonPart(part: string): unknown {
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

/** Reads a token's claims (its middle part, base64url JSON, in both formats); null when it is not a token. Nothing is verified: the server does that. */
export function tokenInfo(token: string): TokenInfo | null {
  const t = token.trim();
  if (!isTokenShaped(t)) return null;
  try {
    const o: unknown = jsonPart(t.split(".")[1]!);
    if (!o || typeof o !== "object") return null;
    const c = o as Record<string, unknown>;
    return {
      app_id: typeof c.app_id === "number" ? c.app_id : null,
      room_id: typeof c.room_id === "string" ? c.room_id : null,
      exp: typeof c.exp === "number" ? c.exp : null,
    };
  } catch {
    return null;
  }
}

/** Whether a token has expired at `nowMs` (false when its expiry can't be read). */
export function tokenExpired(token: string, nowMs = Date.now()): boolean {
  const exp = tokenInfo(token)?.exp;
  return exp !== null && exp !== undefined && exp * 1000 <= nowMs;
}

/**
 * Reads an invite from pasted text: a `confer://join?...` link, any URL with
 * the same query, or a bare query string. Null when it names no ws:// server.
 */
export function parseInvite(text: string): ParsedInvite | null {
  const t = text.trim();
  if (!t) return null;
  const q = t.indexOf("?");
  const query = q >= 0 ? t.slice(q + 1) : t;
  const params = new URLSearchParams(query.split("#")[0]);
  const server = (params.get("server") ?? "").trim();
  if (!isWsUrl(server)) return null;
  const idText = (params.get("app_id") ?? "").trim();
  const id = /^\d+$/.test(idText) ? Number(idText) : NaN;
  const fpText = (params.get("fp") ?? "").trim();
  const fp = fpText ? normalizeFingerprint(fpText) : "";
  return {
    server,
    app_id: Number.isSafeInteger(id) && id > 0 && id <= 0xffffffff ? id : null,
    room: (params.get("room") ?? "").trim(),
    token: (params.get("token") ?? "").trim(),
    fp: fp ?? "",
    legacy_app_sign: (params.get("app_sign") ?? "").trim(),
    bad_fp: fp === null,
  };
}

/** Builds an invite link in the contract's parameter order; empty `token`/`fp` are left out. Never an AppSign. */
export function buildInvite(invite: Invite): string {
  const params = new URLSearchParams();
  params.set("server", invite.server);
  if (invite.app_id !== null) params.set("app_id", String(invite.app_id));
  params.set("room", invite.room);
  if (invite.token) params.set("token", invite.token);
  if (invite.fp) params.set("fp", invite.fp);
  return `confer://join?${params.toString()}`;
}

/** The host (and port) of a ws(s) URL, for messages; the URL itself when it can't be parsed. */
export function serverHost(server: string): string {
  const m = /^wss?:\/\/([^\s/?#]+)/i.exec(server.trim());
  return m ? m[1]! : server;
}

/** "in 45 min", "in 23 h", "in 3 days" (rounded down; "in under a minute" at the end). */
export function timeLeft(expMs: number, nowMs: number): string {
  const s = Math.floor((expMs - nowMs) / 1000);
  if (s < 60) return "in under a minute";
  if (s < 90 * 60) return `in ${Math.floor(s / 60)} min`;
  if (s < 48 * 3600) return `in ${Math.floor(s / 3600)} h`;
  return `in ${Math.floor(s / 86400)} days`;
}

/** When an invite stops working: "Expires in 23 h (tomorrow at 18:30)", "Expires in 45 min (at 18:30)", "Expired at 18:30". */
export function expiryText(expiresAtSecs: number, nowMs = Date.now()): string {
  const ms = expiresAtSecs * 1000;
  const clock = `at ${formatClock(ms)}`;
  const days = Math.round((startOfDay(ms) - startOfDay(nowMs)) / 86_400_000);
  const when =
    days === 0
      ? clock
      : days === 1
        ? `tomorrow ${clock}`
        : days === -1
          ? `yesterday ${clock}`
          : `${new Date(ms).toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" })} ${clock}`;
  return ms <= nowMs ? `Expired ${when}` : `Expires ${timeLeft(ms, nowMs)} (${when})`;
}

function startOfDay(ms: number): number {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

export type HintKind = "ok" | "warning" | "error";

/** What the join form says after a link was pasted: what it filled in, how the connection is secured, and any problem. */
export function inviteSummary(inv: ParsedInvite, nowMs = Date.now()): { kind: HintKind; text: string } {
  const host = serverHost(inv.server);
  const parts: string[] = [];
  let kind: HintKind = "ok";
  const worst = (k: HintKind): void => {
    if (k === "error" || (k === "warning" && kind === "ok")) kind = k;
  };
  const secured = inv.fp ? " — secured with the host's certificate" : /^wss:/i.test(inv.server) ? " — secure connection" : "";
  parts.push(inv.room ? `Invite for room ${inv.room} on ${host}${secured}.` : `Filled in the server ${host}${secured}; add the room ID.`);
  if (inv.bad_fp) {
    worst("error");
    parts.push("Its certificate fingerprint is damaged and was ignored: copy the whole link again.");
  }
  if (inv.token) {
    const info = tokenInfo(inv.token);
    if (!info) {
      worst("error");
      parts.push("Its access token is damaged: copy the whole link again.");
    } else if (info.exp !== null) {
      if (info.exp * 1000 <= nowMs) {
        worst("error");
        parts.push(`${expiryText(info.exp, nowMs)}: ask the host for a new link.`);
      } else parts.push(`${expiryText(info.exp, nowMs)}.`);
    }
  } else if (inv.legacy_app_sign) {
    worst("warning");
    parts.push("An old-style link: its App Sign was filled in under Advanced. Ask the host for a new link.");
  } else {
    worst("warning");
    parts.push("It has no access token: ask the host for a new link, or enter the App Sign under Advanced.");
  }
  return { kind, text: parts.join(" ") };
}
