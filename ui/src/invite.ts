// Invite links: `confer://join?server=<ws url>&app_id=<n>&app_sign=<hex>&room=<id>`.
// The host's HostInfo.invite has everything but the room, which the UI adds.

export interface Invite {
  server: string;
  app_id: number | null;
  app_sign: string;
  room: string;
}

/** Whether `s` is a ws:// or wss:// URL (what create_engine accepts). */
export function isWsUrl(s: string): boolean {
  return /^wss?:\/\/[^\s/?#]+/i.test(s.trim());
}

/**
 * Reads an invite from pasted text: a `confer://join?...` link, any URL with
 * the same query, or a bare query string. Null when it names no ws:// server.
 */
export function parseInvite(text: string): Invite | null {
  const t = text.trim();
  if (!t) return null;
  const q = t.indexOf("?");
  const query = q >= 0 ? t.slice(q + 1) : t;
  const params = new URLSearchParams(query.split("#")[0]);
  const server = (params.get("server") ?? "").trim();
  if (!isWsUrl(server)) return null;
  const idText = (params.get("app_id") ?? "").trim();
  const id = /^\d+$/.test(idText) ? Number(idText) : NaN;
  return {
    server,
    app_id: Number.isSafeInteger(id) && id > 0 ? id : null,
    app_sign: (params.get("app_sign") ?? "").trim(),
    room: (params.get("room") ?? "").trim(),
  };
}

/** Builds an invite link; `base` (HostInfo.invite) keeps its other parameters and gains `room`. */
export function buildInvite(invite: Invite, base = ""): string {
  const q = base.indexOf("?");
  const params = new URLSearchParams(q >= 0 ? base.slice(q + 1) : "");
  params.set("server", invite.server);
  if (invite.app_id !== null) params.set("app_id", String(invite.app_id));
  if (invite.app_sign) params.set("app_sign", invite.app_sign);
  else params.delete("app_sign");
  params.set("room", invite.room);
  return `confer://join?${params.toString()}`;
}
