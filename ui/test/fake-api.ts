// A recording fake of the contract's commands for session tests.

import type { Api } from "../src/tauri.js";
import type { CommandError, HostInfo, HostInvite, ReachabilityReport } from "../src/types.js";

export type Call = [name: string, ...args: unknown[]];

export const FP = "AB:".repeat(31) + "AB";

export const HOST: HostInfo = {
  ws_url: "wss://127.0.0.1:40123/ws",
  http_url: "https://127.0.0.1:40123",
  debug_page_url: "https://192.168.1.20:40123/",
  addresses: ["wss://192.168.1.20:40123/ws"],
  app_id: 4242,
  app_sign: "ab".repeat(32),
  fingerprint: FP,
  forward: { tcp: 40123, udp: 40124 },
};

/** A token in the real format with these claims (the signature is not checked by the UI). */
export function token(claims: Record<string, unknown>, format: "jwt" | "cf1" = "jwt"): string {
  const b64 = (s: string): string => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const head = format === "jwt" ? b64(JSON.stringify({ alg: "HS256", typ: "JWT" })) : "CF1";
  return `${head}.${b64(JSON.stringify({ app_id: 4242, privileges: { login: true, publish: true }, iat: 0, ...claims }))}.${b64("signature")}`;
}

export const INVITE: HostInvite = {
  link: `confer://join?server=${encodeURIComponent("wss://192.168.1.20:40123/ws")}&app_id=4242&room=r1&token=TOKEN&fp=${encodeURIComponent(FP)}`,
  token: "TOKEN",
  expires_at: 2_000_000_000,
};

export const REACH: ReachabilityReport = {
  checks: [
    { name: "tcp", target: "192.168.1.20:40123", ok: true, code: 0, detail: "connected", elapsed_ms: 2 },
    { name: "turn-udp", target: "turn:192.168.1.20:3478", ok: false, code: 1002020, detail: "no answer", elapsed_ms: 3004 },
  ],
};

export function fakeApi(fail: Partial<Record<keyof Api, CommandError>> = {}): { api: Api; calls: Call[]; names: () => string[] } {
  const calls: Call[] = [];
  let msg = 0;
  const results: Partial<Record<keyof Api, unknown>> = {
    listDevices: { cameras: [{ id: "cam1", name: "Cam" }], microphones: [{ id: "mic1", name: "Mic" }], speakers: [] },
    hostCall: HOST,
    hostInvite: INVITE,
    checkReachability: REACH,
    diagnostics: { render_path: "native-x11", reason: "", adapter: null, platform: "linux-x11", tiles: 0 },
    userTheme: null,
    appInfo: { version: "0.0.0", config_dir: "/tmp" },
  };
  const api = new Proxy({} as Api, {
    get(target, prop: string) {
      // A test may replace a command by assigning it.
      if (Object.prototype.hasOwnProperty.call(target, prop)) return (target as unknown as Record<string, unknown>)[prop];
      return async (...args: unknown[]) => {
        calls.push([prop, ...args]);
        const f = fail[prop as keyof Api];
        if (f) throw f;
        if (prop === "sendBroadcastMessage") return ++msg;
        return (results[prop as keyof Api] ?? null) as never;
      };
    },
  });
  return { api, calls, names: () => calls.map((c) => c[0]) };
}
