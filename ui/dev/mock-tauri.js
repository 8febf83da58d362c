// Dev only: a fake `window.__TAURI__` so the UI runs in a browser without the
// Rust side. It answers every command of docs/app-contract.md, emits SDK
// events for a scripted scenario, and feeds the canvas fallback with drawn
// frames so tiles look like video. Query parameters:
//   scenario = home | advanced | paste | nocamera | invite | reach | hoststop | solo | spotlight | duo | duo-off | muted | call | grid | speaker | pinned | chat | people | stats | reconnecting | leave | kicked | menu | micmenu | help
//              (advanced: home with "Advanced (your own server)" open; paste: a guest pasted an invite link; invite: hosting for the network, Info tab;
//               reach: the same after "Check reachability"; duo: 1:1 with the Info panel open; duo-off: the same with your camera and mic off;
//               muted: 1:1 with your mic off while you talk: the "You're muted" hint;
//               sharepicker: the share picker open; share: you share a window (presenter layout, sharing bar);
//               remoteshare: Grace shares her screen (presenter layout with her screen on the stage))
//   Sound levels: while start_sound_level_monitor runs, you talk (captured ~35..85) and the
//   first remote person talks; the others are quiet (their speaking rings stay off).
//   theme    = system | light | dark | high-contrast
//   render   = canvas | native-x11
"use strict";
(() => {
  const q = new URLSearchParams(location.search);
  const scenario = q.get("scenario") || "home";
  const theme = q.get("theme") || "dark";
  const render = q.get("render") || "canvas";
  const listeners = new Map();
  const channels = new Map();
  const started = new Set();
  const rects = new Map();
  let room = null;
  let me = null;
  let msgId = 100;
  let hostScope = "this_computer";
  let inviteSeq = 0;
  const b64url = (s) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  // A token in the real format (CF1.<base64url(claims)>.<sig>), so the UI can read its room and expiry.
  const mintToken = (room, ttl) => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { app_id: 1234567, user_id: "", room_id: room, privileges: { login: true, publish: true }, iat: now, exp: now + ttl };
    return { token: `CF1.${b64url(JSON.stringify(claims))}.${b64url(String(++inviteSeq).padStart(32, "s"))}`, expires_at: now + ttl };
  };
  const FINGERPRINT = "3F:9A:0C:77:E1:52:B4:08:6D:C3:29:FA:10:8E:5B:47:D2:61:0F:AC:93:3E:7B:C5:48:1D:E6:02:BF:74:A9:58";
  const log = [];
  const shareSources = [
    { id: "screen:0", kind: "screen", name: "Screen 1", width: 2560, height: 1440, thumbnail: null },
    { id: "window:4194311", kind: "window", name: "design-review.pdf — Document Viewer", width: 1280, height: 900, thumbnail: null },
    { id: "window:4194400", kind: "window", name: "main.rs — Code Editor", width: 1600, height: 1000, thumbnail: null },
    { id: "window:4194512", kind: "window", name: "Terminal", width: 900, height: 600, thumbnail: null },
  ];
  let sharing = null;

  class Channel {
    constructor() {
      this.onmessage = () => {};
    }
  }

  const emit = (name, payload) => {
    for (const h of listeners.get(name) || []) h({ event: name, payload: { event: name, ...payload } });
  };

  const settings = {
    user_id: "u-ada",
    name: "Ada Lovelace",
    last_server: "wss://192.168.1.20:40123/ws",
    last_room: "team-sync",
    last_app_id: 1234567,
    last_app_sign: "",
    last_token: mintToken("team-sync", 20 * 3600).token,
    last_pin: FINGERPRINT,
    camera: null,
    microphone: null,
    speaker: null,
    video_source: "camera",
    video_preset: "360p",
    host_scope: q.get("scope") === "network" || scenario === "reach" || scenario === "invite" ? "network" : "this_computer",
    theme,
  };

  const people = [
    { user_id: "u-grace", user_name: "Grace Hopper", hue: 200 },
    { user_id: "u-alan", user_name: "Alan Turing", hue: 28 },
    { user_id: "u-katherine", user_name: "Katherine Johnson", hue: 150 },
    { user_id: "u-linus", user_name: "Linus", hue: 280 },
    { user_id: "u-margaret", user_name: "Margaret Hamilton", hue: 340 },
    { user_id: "u-edsger", user_name: "Edsger Dijkstra", hue: 90 },
  ];
  const count = { solo: 0, spotlight: 1, duo: 1, "duo-off": 1, muted: 1, reconnecting: 1, kicked: 1, leave: 1, invite: 0, reach: 0 }[scenario] ?? (scenario === "grid" ? 6 : scenario === "speaker" || scenario === "pinned" ? 5 : 3);
  const others = people.slice(0, count);

  const quality = (level, extra = {}) => ({
    video_recv_fps: 29.6, video_decode_fps: 29.6, video_render_fps: 29.4, video_kbps: 812.4, video_break_rate: 0.004,
    audio_recv_fps: 50, audio_kbps: 32.1, audio_break_rate: 0.001, mos: 4.3, rtt_ms: 38, packet_loss_rate: 0.002,
    jitter_ms: 4.2, end_to_end_delay_ms: 96, av_timestamp_diff_ms: 18, width: 640, height: 360,
    video_codec: "H264", total_recv_bytes: 12_345_678, level,
    path: { local: "host", remote: "host", protocol: "udp" }, ...extra,
  });

  function runScenario() {
    const rid = room;
    emit("RoomStateUpdate", { room_id: rid, state: "Connecting", error_code: 0, extended_data: "{}" });
    emit("RoomStateChanged", { room_id: rid, reason: "Logining", error_code: 0, extended_data: "{}" });
    setTimeout(() => {
      emit("RoomStateUpdate", { room_id: rid, state: "Connected", error_code: 0, extended_data: "{}" });
      emit("RoomStateChanged", { room_id: rid, reason: "Logined", error_code: 0, extended_data: "{}" });
      if (others.length) emit("RoomUserUpdate", { room_id: rid, update_type: "Add", users: others.map(({ user_id, user_name }) => ({ user_id, user_name })) });
      emit("RoomOnlineUserCountUpdate", { room_id: rid, count: others.length + 1 });
      if (others.length)
        emit("RoomStreamUpdate", {
          room_id: rid,
          update_type: "Add",
          streams: others.map(({ user_id, user_name }) => ({ stream_id: `${user_id}-main`, user: { user_id, user_name }, extra_info: "" })),
          extended_data: "{}",
        });
      emit("PublisherStateUpdate", { stream_id: `${me}-main`, state: "PublishRequesting", error_code: 0, extended_data: "{}" });
      emit("PublisherStateUpdate", { stream_id: `${me}-main`, state: "Publishing", error_code: 0, extended_data: "{}" });
    }, 60);
    setTimeout(() => {
      others.forEach((u, i) => {
        const sid = `${u.user_id}-main`;
        emit("PlayerStateUpdate", { stream_id: sid, state: "Playing", error_code: 0, extended_data: "{}" });
        emit("PlayerRenderVideoFirstFrame", { stream_id: sid });
        const level = i === 1 ? "Bad" : i === 2 ? "Medium" : "Excellent";
        emit("PlayerQualityUpdate", { stream_id: sid, quality: quality(level, i === 1 ? { packet_loss_rate: 0.12, rtt_ms: 310, mos: 2.9, path: { local: "relay", remote: "host", protocol: "udp" } } : {}) });
        emit("RemoteMicStateUpdate", { stream_id: sid, state: i === 1 || i === 3 ? "Mute" : "Open" });
        emit("RemoteCameraStateUpdate", { stream_id: sid, state: i === 2 ? "Mute" : "Open" });
      });
      emit("PublisherQualityUpdate", {
        stream_id: `${me}-main`,
        quality: {
          video_capture_fps: 30, video_encode_fps: 30, video_send_fps: 30, video_kbps: 640, audio_send_fps: 50, audio_kbps: 32,
          rtt_ms: 22, packet_loss_rate: 0, target_kbps: 800, width: 640, height: 360, video_codec: "H264", total_send_bytes: 1_000_000, level: "Excellent",
          path: { local: "host", remote: "host", protocol: "udp" },
        },
      });
      if (scenario === "chat" || scenario === "call") {
        const now = Date.now();
        emit("RoomBroadcastMessage", {
          room_id: rid,
          messages: [
            { message_id: 1, from_user: { user_id: "u-grace", user_name: "Grace Hopper" }, text: "Morning all! Can everyone see my screen share later?", send_time_ms: now - 180_000 },
            { message_id: 2, from_user: { user_id: "u-grace", user_name: "Grace Hopper" }, text: "I'll post the agenda here.", send_time_ms: now - 170_000 },
            { message_id: 3, from_user: { user_id: "u-alan", user_name: "Alan Turing" }, text: "My connection is a bit shaky today, sorry!", send_time_ms: now - 60_000 },
          ],
        });
      }
    }, 160);
    setTimeout(() => after(rid), 400);
  }

  function click(sel) {
    const el = document.querySelector(sel);
    if (el) el.click();
    else console.warn("mock: no element", sel);
  }

  // Scenarios that close the side panel, then click one button.
  const CLICK_AFTER_CLOSING = {
    leave: "#leave",
    menu: "#camera-menu",
    micmenu: "#mic-menu",
    help: "#show-help",
    // Speaker view (the Layout button): the first remote person talks, so they take the stage.
    speaker: "#toggle-layout",
    sharepicker: "#toggle-share",
  };

  function after(rid) {
    const button = CLICK_AFTER_CLOSING[scenario];
    if (button) {
      click("#close-panel");
      setTimeout(() => click(button), 50);
      return;
    }
    switch (scenario) {
      case "chat":
        click("#toggle-chat");
        setTimeout(() => {
          const ta = document.querySelector("#chat-input");
          ta.value = "Sounds good. Sharing the notes after the call.";
          ta.dispatchEvent(new Event("input"));
          document.querySelector("#chat-form").requestSubmit();
          setTimeout(() => {
            ta.value = "Draft: ";
            ta.dispatchEvent(new Event("input"));
          }, 50);
        }, 50);
        break;
      case "call":
        click("#close-panel");
        emit("RoomUserUpdate", { room_id: rid, update_type: "Add", users: [{ user_id: "u-margaret", user_name: "Margaret Hamilton" }] });
        break;
      case "stats":
        click("#close-panel");
        setTimeout(() => document.querySelectorAll(".tile:not([data-self]) .quality-badge")[1]?.click(), 50);
        break;
      case "reconnecting":
        click("#close-panel");
        emit("RoomStateUpdate", { room_id: rid, state: "Connecting", error_code: 1002011, extended_data: "{}" });
        emit("RoomStateChanged", { room_id: rid, reason: "Reconnecting", error_code: 1002011, extended_data: "{}" });
        emit("PlayerStateUpdate", { stream_id: "u-grace-main", state: "PlayRequesting", error_code: 1004004, extended_data: "{}" });
        break;
      case "kicked":
        emit("RoomStateUpdate", { room_id: rid, state: "Disconnected", error_code: 1002013, extended_data: "{}" });
        emit("RoomStateChanged", { room_id: rid, reason: "KickOut", error_code: 1002013, extended_data: "{}" });
        break;
      case "duo-off":
        click("#toggle-camera");
        click("#toggle-mic");
        break;
      case "muted":
        click("#close-panel");
        click("#toggle-mic");
        break;
      case "grid":
      case "spotlight":
        click("#close-panel");
        break;
      case "pinned":
        // Key 3 pins the third remote tile: speaker view with it on the stage.
        click("#close-panel");
        setTimeout(() => document.dispatchEvent(new KeyboardEvent("keydown", { key: "3", code: "Digit3", bubbles: true })), 50);
        break;
      case "people":
        click("#toggle-people");
        break;
      case "invite":
        // The host's invite box (Info tab) with the Reachability section.
        break;
      case "reach":
        // The same, with the reachability results (one failing TURN check).
        setTimeout(() => click("#check-reachability"), 50);
        setTimeout(() => document.querySelector("#reachability")?.scrollIntoView(), 500);
        break;
      case "hoststop":
        emit("HostStopped", { reason: "the server's port was closed" });
        break;
      case "share":
        click("#close-panel");
        click("#toggle-share");
        setTimeout(() => {
          document.querySelector('.share-card[data-kind="window"]')?.click();
          click("#share-start");
        }, 300);
        break;
      case "remoteshare": {
        click("#close-panel");
        const grace = { user_id: "u-grace", user_name: "Grace Hopper" };
        emit("RoomStreamUpdate", { room_id: rid, update_type: "Add", streams: [{ stream_id: "u-grace-screen", user: grace, extra_info: "" }], extended_data: "{}" });
        setTimeout(() => {
          emit("PlayerStateUpdate", { stream_id: "u-grace-screen", state: "Playing", error_code: 0, extended_data: "{}" });
          emit("PlayerRenderVideoFirstFrame", { stream_id: "u-grace-screen" });
        }, 100);
        break;
      }
      default:
        break;
    }
  }

  const handlers = {
    start_preview: ({ tile_id }) => {
      if (scenario === "nocamera") throw { code: 1006001, message: "no camera found" };
      started.add(tile_id);
      return null;
    },
    start_playing_stream: ({ stream_id, tile_id }) => (started.add(tile_id), null),
    stop_preview: () => (started.delete("self"), started.delete("preview"), null),
    load_settings: () => ({ ...settings }),
    save_settings: ({ settings: s }) => (Object.assign(settings, s), null),
    user_theme: () => null,
    app_info: () => ({ version: "0.1.0-dev", config_dir: "/home/ada/.config/confer" }),
    diagnostics: () => ({
      render_path: render,
      reason: render === "canvas" ? "mock: running in a browser, frames come through a channel" : "X11 display :0",
      adapter: render === "canvas" ? null : "llvmpipe (LLVM 15.0.6, 256 bits)",
      platform: "linux-x11",
      tiles: [...rects.values()].filter((r) => r.visible).length,
    }),
    list_devices: () => ({
      cameras: scenario === "nocamera" ? [] : [{ id: "/dev/video0", name: "Integrated Camera" }, { id: "/dev/video2", name: "Logitech C920" }],
      microphones: [{ id: "alsa:mic0", name: "Built-in Microphone" }],
      speakers: [{ id: "alsa:spk0", name: "Built-in Speakers" }, { id: "alsa:hdmi", name: "HDMI Monitor" }],
    }),
    host_call: ({ scope }) => {
      hostScope = scope;
      const tls = scope === "network";
      return {
        ws_url: tls ? "wss://127.0.0.1:40123/ws" : "ws://127.0.0.1:40123/ws",
        http_url: tls ? "https://127.0.0.1:40123" : "http://127.0.0.1:40123",
        debug_page_url: tls ? "https://192.168.1.20:40123/" : "http://127.0.0.1:40123/",
        addresses: tls ? ["wss://192.168.1.20:40123/ws", "wss://10.8.0.4:40123/ws"] : ["ws://127.0.0.1:40123/ws"],
        app_id: 1234567,
        app_sign: "0f3a".repeat(16),
        fingerprint: tls ? FINGERPRINT : null,
        forward: { tcp: 40123, udp: tls ? 40124 : null },
      };
    },
    host_invite: ({ room, ttl_secs }) => {
      if (typeof room !== "string" || typeof ttl_secs !== "number") throw "invalid args for command `host_invite`";
      const { token, expires_at } = mintToken(room, ttl_secs);
      const server = hostScope === "network" ? "wss://192.168.1.20:40123/ws" : "ws://127.0.0.1:40123/ws";
      const fp = hostScope === "network" ? `&fp=${encodeURIComponent(FINGERPRINT)}` : "";
      return { link: `confer://join?server=${encodeURIComponent(server)}&app_id=1234567&room=${encodeURIComponent(room)}&token=${token}${fp}`, token, expires_at };
    },
    // `confer doctor`'s checks, in order; TURN fails (none configured behind this router).
    check_reachability: () =>
      new Promise((resolve) =>
        setTimeout(
          () =>
            resolve({
              checks: [
                { name: "dns", target: "192.168.1.20", ok: true, code: 0, detail: "an IP address: nothing to resolve", elapsed_ms: 0 },
                { name: "tcp", target: "192.168.1.20:40123", ok: true, code: 0, detail: "connected", elapsed_ms: 2 },
                { name: "tls", target: "192.168.1.20:40123", ok: true, code: 0, detail: "TLS 1.3, certificate matches the pinned fingerprint", elapsed_ms: 9 },
                { name: "websocket", target: "wss://192.168.1.20:40123/ws", ok: true, code: 0, detail: "upgraded", elapsed_ms: 4 },
                { name: "login", target: "room doctor-check", ok: true, code: 0, detail: "logged in and out with an invite token", elapsed_ms: 31 },
                { name: "udp-media", target: "192.168.1.20:40124", ok: true, code: 0, detail: "ICE connected over UDP (host candidate)", elapsed_ms: 412 },
                { name: "turn-udp", target: "turn:192.168.1.20:3478", ok: false, code: 1002020, detail: "no answer to the TURN allocate request within 3 s: is UDP 3478 forwarded, or is a TURN server configured?", elapsed_ms: 3004 },
              ],
            }),
          scenario === "reach" ? 150 : 1200,
        ),
      ),
    login_room: (a) => {
      room = a.room_id;
      me = a.user_id;
      setTimeout(runScenario, 30);
      return null;
    },
    logout_room: () => {
      room = null;
      return null;
    },
    update_tiles: ({ tiles }) => {
      rects.clear();
      for (const t of tiles) rects.set(t.tile_id, t);
      return null;
    },
    attach_canvas: ({ tile_id, channel }) => (channels.set(tile_id, channel), null),
    send_broadcast_message: () => ++msgId,
    start_sound_level_monitor: ({ interval_ms }) => {
      if (typeof interval_ms !== "number") throw "invalid args `intervalMs` for command `start_sound_level_monitor`";
      startLevels(Math.min(3000, Math.max(100, interval_ms)));
      return null;
    },
    stop_sound_level_monitor: () => (stopLevels(), null),
    list_share_sources: () => new Promise((resolve) => setTimeout(() => resolve([...shareSources]), 120)),
    start_share: ({ source_id, hint, stream_id }) => {
      const source = shareSources.find((x) => x.id === source_id);
      if (!source || !hint || !stream_id) throw { code: 1006003, message: "the window or screen to share is gone" };
      sharing = { stream_id, source, state: "Capturing" };
      return sharing;
    },
    stop_share: () => ((sharing = null), null),
    // The chime plays for about 0.8 s.
    test_speaker: () => new Promise((resolve) => setTimeout(() => resolve(null), 900)),
  };

  // ---- sound levels (CapturedSoundLevelUpdate / RemoteSoundLevelUpdate) ----
  let levelTimer = null;
  const t0 = performance.now();
  // Speech-like: syllables at ~4 Hz inside phrases, with short pauses.
  const voice = (t, base, phase) => {
    const syllable = 0.5 + 0.5 * Math.sin(t / 40 + phase);
    const phrase = Math.sin(t / 900 + phase) > -0.6 ? 1 : 0.15;
    return Math.max(0, Math.min(100, base * phrase * (0.65 + 0.35 * syllable) + Math.random() * 4));
  };
  function startLevels(interval) {
    stopLevels();
    levelTimer = setInterval(() => {
      const t = performance.now() - t0;
      emit("CapturedSoundLevelUpdate", { level: voice(t, 80, 0) });
      const playing = [...started].filter((id) => id.startsWith("stream-") || others.some((o) => id.includes(o.user_id)));
      if (!room || playing.length === 0) return;
      const levels = {};
      others.forEach((u, i) => {
        // Muted people send no audio: 0 (as the SDK reports them).
        const muted = i === 1 || i === 3;
        levels[`${u.user_id}-main`] = muted ? 0 : i === 0 ? voice(t, 75, 1.3) : 4 + Math.random() * 3;
      });
      emit("RemoteSoundLevelUpdate", { levels });
    }, interval);
  }
  function stopLevels() {
    if (levelTimer) clearInterval(levelTimer);
    levelTimer = null;
  }

  window.__TAURI__ = {
    core: {
      Channel,
      invoke: async (cmd, args = {}) => {
        log.push([cmd, args]);
        const h = handlers[cmd];
        return h ? h(args) : null;
      },
    },
    event: {
      listen: async (name, handler) => {
        const list = listeners.get(name) || [];
        list.push(handler);
        listeners.set(name, list);
        return () => listeners.set(name, (listeners.get(name) || []).filter((x) => x !== handler));
      },
    },
  };
  window.__confer_mock = { log, emit, rects };

  // ---- fake video for the canvas fallback ----
  const hueOf = (tileId) => {
    if (tileId === "self" || tileId === "preview") return 215;
    const p = people.find((x) => tileId.includes(x.user_id));
    return p ? p.hue : 0;
  };
  function hslToRgb(h, s, l) {
    const a = s * Math.min(l, 1 - l);
    const f = (n) => {
      const k = (n + h / 30) % 12;
      return l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    };
    return [f(0) * 255, f(8) * 255, f(4) * 255];
  }
  const drawn = new WeakMap();
  function frame(tileId, w, h) {
    const buf = new ArrayBuffer(8 + w * h * 4);
    const dv = new DataView(buf);
    dv.setUint32(0, w, true);
    dv.setUint32(4, h, true);
    const px = new Uint8ClampedArray(buf, 8);
    const hue = hueOf(tileId);
    const [r1, g1, b1] = hslToRgb(hue, 0.35, 0.32);
    const [r2, g2, b2] = hslToRgb((hue + 40) % 360, 0.3, 0.16);
    const [rs, gs, bs] = hslToRgb((hue + 180) % 360, 0.25, 0.62);
    const cx = w / 2;
    const headY = h * 0.42;
    const headR = h * 0.15;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const t = (x / w) * 0.4 + (y / h) * 0.6;
        let r = r1 + (r2 - r1) * t;
        let g = g1 + (g2 - g1) * t;
        let b = b1 + (b2 - b1) * t;
        const dx = x - cx;
        const dyh = y - headY;
        const inHead = dx * dx + dyh * dyh < headR * headR;
        const sy = y - h * 1.02;
        const inBody = (dx * dx) / ((h * 0.32) ** 2) + (sy * sy) / ((h * 0.42) ** 2) < 1;
        if (inHead || inBody) {
          const shade = inHead ? 1 : 0.85;
          r = rs * shade;
          g = gs * shade;
          b = bs * shade;
        }
        const i = (y * w + x) * 4;
        px[i] = r;
        px[i + 1] = g;
        px[i + 2] = b;
        px[i + 3] = 255;
      }
    }
    return buf;
  }
  setInterval(() => {
    for (const [id, ch] of channels) {
      const r = rects.get(id);
      if (!started.has(id) || !r || !r.visible || r.width < 2 || r.height < 2) continue;
      const key = `${r.width}x${r.height}`;
      if (drawn.get(ch) === key) continue;
      drawn.set(ch, key);
      ch.onmessage(frame(id, r.width, r.height));
    }
  }, 100);

  // Drive the UI: host a call (the name is filled from settings) for call scenarios.
  if (scenario === "paste") {
    // A guest pastes a host's invite (TLS, pinned): the form fills in and says so.
    const paste = () =>
      setTimeout(() => {
        const el = document.querySelector("#invite-link");
        const { token } = mintToken("room-k7dm3q", 24 * 3600 - 60);
        el.value = `confer://join?server=${encodeURIComponent("wss://192.168.1.20:40123/ws")}&app_id=1234567&room=room-k7dm3q&token=${token}&fp=${encodeURIComponent(FINGERPRINT)}`;
        el.dispatchEvent(new Event("input"));
      }, 150);
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", paste);
    else paste();
  }
  if (scenario === "advanced") {
    const open = () => setTimeout(() => document.querySelector("#join-advanced")?.setAttribute("open", ""), 150);
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", open);
    else open();
  }
  if (scenario !== "home" && scenario !== "nocamera" && scenario !== "advanced" && scenario !== "paste") {
    const start = () => setTimeout(() => document.querySelector("#host-call")?.click(), 150);
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})();
