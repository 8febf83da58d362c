// A recording fake of the contract's commands for session tests.

import type { Api } from "../src/tauri.js";
import type { CommandError, HostInfo } from "../src/types.js";

export type Call = [name: string, ...args: unknown[]];

export const HOST: HostInfo = {
  ws_url: "ws://127.0.0.1:40123/ws",
  http_url: "http://127.0.0.1:40123",
  debug_page_url: "http://127.0.0.1:40123/",
  addresses: ["ws://192.168.1.20:40123/ws"],
  app_id: 4242,
  app_sign: "ab".repeat(32),
  invite: "confer://join?server=ws%3A%2F%2F192.168.1.20%3A40123%2Fws&app_id=4242&app_sign=" + "ab".repeat(32),
};

export function fakeApi(fail: Partial<Record<keyof Api, CommandError>> = {}): { api: Api; calls: Call[]; names: () => string[] } {
  const calls: Call[] = [];
  let msg = 0;
  const results: Partial<Record<keyof Api, unknown>> = {
    listDevices: { cameras: [{ id: "cam1", name: "Cam" }], microphones: [{ id: "mic1", name: "Mic" }], speakers: [] },
    hostCall: HOST,
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
