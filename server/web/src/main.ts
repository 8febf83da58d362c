// The web debug page: log in with AppID / RoomID / UserID / Token, preview
// (camera, or the barcode test pattern), publish, see the room's users and
// streams, play them, watch stats and the SDK event log. Each played tile
// asks for the simulcast layer its size is worth (layer-caps.ts, shared with
// the app), or the one picked in its Layer menu (`?layer=low` picks it for
// every tile; `?minrate=0` publishes without the estimate's 300 kbit/s
// floor). "Share screen" publishes a screen on the aux channel
// (share.ts); shared screens, the page's or anyone's, are shown big.

import { codeName, explain } from "./errors.js";
import { SdkError, WebEngine, type SdkEvent } from "./engine.js";
import { nowUs } from "./barcode.js";
import { AudioProbe, VideoProbe, type FrameRead } from "./probe.js";
import { peekToken, type StreamInfo, type VideoLayer } from "./protocol.js";
import { LayerCaps, type TileSize } from "./layer-caps.js";
import type { MediaPath, Quality } from "./stats.js";
import { TestPattern, Tone } from "./testsource.js";
import { isScreenStream, screenStreamId, ScreenShare } from "./share.js";
import { publishMinRate, repairPlayoutTarget, type ScreenHint } from "./media.js";

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

const ui = {
  conn: $("conn"),
  serverInfo: $("server-info"),
  form: $<HTMLFormElement>("login-form"),
  appId: $<HTMLInputElement>("app-id"),
  roomId: $<HTMLInputElement>("room-id"),
  userId: $<HTMLInputElement>("user-id"),
  userName: $<HTMLInputElement>("user-name"),
  token: $<HTMLTextAreaElement>("token"),
  tokenInfo: $("token-info"),
  notify: $<HTMLInputElement>("notify"),
  mint: $<HTMLButtonElement>("mint"),
  login: $<HTMLButtonElement>("login"),
  logout: $<HTMLButtonElement>("logout"),
  banner: $("banner"),
  source: $<HTMLSelectElement>("source"),
  toneHz: $<HTMLInputElement>("tone-hz"),
  preview: $<HTMLButtonElement>("preview"),
  stopPreview: $<HTMLButtonElement>("stop-preview"),
  streamId: $<HTMLInputElement>("stream-id"),
  publish: $<HTMLButtonElement>("publish"),
  unpublish: $<HTMLButtonElement>("unpublish"),
  shareHint: $<HTMLSelectElement>("share-hint"),
  shareId: $<HTMLInputElement>("share-id"),
  share: $<HTMLButtonElement>("share"),
  stopShare: $<HTMLButtonElement>("stop-share"),
  shareTile: $("share-tile"),
  shareVideo: $<HTMLVideoElement>("share-video"),
  shareState: $("share-state"),
  shareStats: $("share-stats"),
  muteMic: $<HTMLInputElement>("mute-mic"),
  cameraOff: $<HTMLInputElement>("camera-off"),
  count: $("count"),
  users: $<HTMLUListElement>("users"),
  streams: $<HTMLUListElement>("streams"),
  autoplay: $<HTMLInputElement>("autoplay"),
  tiles: $("tiles"),
  localVideo: $<HTMLVideoElement>("local-video"),
  localPlaceholder: $("local-placeholder"),
  localState: $("local-state"),
  localStats: $("local-stats"),
  log: $<HTMLOListElement>("log"),
  logQuality: $<HTMLInputElement>("log-quality"),
  clearLog: $<HTMLButtonElement>("clear-log"),
};

const params = new URLSearchParams(location.search);
const serverUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;

let engine: WebEngine | null = null;
let audioContext: AudioContext | null = null;
let preview: { stream: MediaStream; pattern: TestPattern | null; tone: Tone | null } | null = null;
let share: ScreenShare | null = null;
const eventLog: SdkEvent[] = [];
let onlineCount = 0;

interface RemoteTile {
  el: HTMLElement;
  video: HTMLVideoElement;
  state: HTMLElement;
  stats: HTMLElement;
  overlay: HTMLElement;
  muteButton: HTMLButtonElement;
  screen: HTMLElement;
  /** "auto" (by the tile's size) or a fixed layer. */
  layerChoice: HTMLSelectElement;
  videoProbe: VideoProbe;
  audioProbe: AudioProbe | null;
  audioTrackId: string | null;
}
const tiles = new Map<string, RemoteTile>();
const LAYER_CHOICES = ["auto", "low", "medium", "high"] as const;
const layerCaps = new LayerCaps(
  async (streamId, layer) => engine?.setPlayStreamVideoLayer(streamId, layer),
  (streamId, layer, e) => console.debug(`confer: layer ${layer} for ${streamId} not taken`, e),
);
const tileResize = new ResizeObserver(() => measureTiles());
/** A tile whose last frame is older than this shows how long ago, not that frame. */
const STALE_AFTER_S = 2;

function audio(): AudioContext {
  if (!audioContext) audioContext = new AudioContext({ sampleRate: 48_000 });
  if (audioContext.state === "suspended") void audioContext.resume();
  return audioContext;
}

// ------------------------------------------------------------------ banner

function banner(text: string, ok = false): void {
  ui.banner.textContent = text;
  ui.banner.classList.toggle("ok", ok);
  ui.banner.hidden = text === "";
}

// ------------------------------------------------------------------ token

function showTokenInfo(): void {
  const token = ui.token.value.trim();
  ui.tokenInfo.classList.remove("bad");
  if (!token) {
    ui.tokenInfo.textContent = "";
    return;
  }
  const claims = peekToken(token);
  if (!claims) {
    ui.tokenInfo.textContent = "Not a Confer token (expected a JWT or CF1.…)";
    ui.tokenInfo.classList.add("bad");
    return;
  }
  const left = claims.exp - Date.now() / 1000;
  const room = claims.room_id ? `room ${claims.room_id}` : "any room";
  const expiry = left > 0 ? `expires in ${formatDuration(left)}` : `expired ${formatDuration(-left)} ago`;
  const problems: string[] = [];
  if (left <= 0) problems.push("expired");
  if (ui.appId.value && Number(ui.appId.value) !== claims.app_id) problems.push(`for AppID ${claims.app_id}`);
  if (ui.userId.value && ui.userId.value !== claims.user_id) problems.push(`for user ${claims.user_id}`);
  if (claims.room_id && ui.roomId.value && ui.roomId.value !== claims.room_id) problems.push(`for room ${claims.room_id}`);
  ui.tokenInfo.textContent = `Token for ${claims.user_id} · ${room} · ${expiry}${problems.length ? ` — does not match: ${problems.join(", ")}` : ""}`;
  ui.tokenInfo.classList.toggle("bad", problems.length > 0);
}

function formatDuration(secs: number): string {
  if (secs < 90) return `${Math.round(secs)} s`;
  if (secs < 5400) return `${Math.round(secs / 60)} min`;
  return `${Math.round(secs / 3600)} h`;
}

async function mintDevToken(): Promise<void> {
  const body = {
    app_id: Number(ui.appId.value),
    user_id: ui.userId.value.trim(),
    room_id: ui.roomId.value.trim() || null,
  };
  const res = await fetch("/api/dev-token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as { token?: string; code?: number; message?: string };
  if (res.ok && answer.token) {
    ui.token.value = answer.token;
    banner("");
    showTokenInfo();
  } else {
    banner(`Could not mint a token: ${explain(answer.code ?? 0, answer.message ?? "")}`);
  }
}

// -------------------------------------------------------------- event log

const QUIET = new Set(["onPublisherQualityUpdate", "onPlayerQualityUpdate"]);

function summarize(e: SdkEvent): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(e.data)) {
    if (k === "extended_data" && v === "{}") continue;
    if (Array.isArray(v)) {
      const ids = v.map((x: Record<string, unknown>) =>
        typeof x.stream_id === "string" ? x.stream_id : typeof x.user_id === "string" ? x.user_id : typeof x.text === "string" ? x.text : JSON.stringify(x),
      );
      parts.push(`${k}=[${ids.join(", ")}]`);
    } else if (k === "quality" && v && typeof v === "object") {
      const q = v as Quality;
      parts.push(`${q.width}x${q.height} ${q.fps}fps ${q.video_kbps + q.audio_kbps}kbps rtt=${q.rtt_ms}ms loss=${q.packet_loss_pct}% ${q.level} ${pathText(q.path)}`);
    } else if (k === "error_code" && typeof v === "number" && v !== 0) {
      parts.push(`error_code=${codeName(v)}`);
    } else {
      parts.push(`${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
    }
  }
  return parts.join("  ");
}

function category(name: string): string {
  if (name.startsWith("onRoom")) return "room";
  if (name.startsWith("onPublisher")) return "publisher";
  if (name.startsWith("onPlayer")) return "player";
  return "";
}

function appendLog(e: SdkEvent): void {
  eventLog.push(e);
  if (QUIET.has(e.name) && !ui.logQuality.checked) return;
  const li = document.createElement("li");
  const code = e.data.error_code;
  if (typeof code === "number" && code !== 0) li.classList.add("error");
  const t = document.createElement("span");
  t.className = "t";
  t.textContent = new Date(e.at).toISOString().slice(11, 23);
  const n = document.createElement("span");
  n.className = `n ${category(e.name)}`;
  n.textContent = e.name;
  const d = document.createElement("span");
  d.className = "d";
  d.textContent = summarize(e);
  d.title = JSON.stringify(e.data, null, 2);
  li.append(t, n, d);
  const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 30;
  ui.log.append(li);
  while (ui.log.children.length > 1000) ui.log.firstElementChild?.remove();
  if (atBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

// ------------------------------------------------------------------ engine

function onEvent(e: SdkEvent): void {
  appendLog(e);
  const d = e.data;
  switch (e.name) {
    case "onRoomStateUpdate": {
      const state = String(d.state);
      ui.conn.textContent = state === "Connected" ? `Connected · ${String(d.room_id)}` : state;
      ui.conn.dataset.state = state;
      const code = Number(d.error_code);
      if (state === "Disconnected") {
        for (const id of [...tiles.keys()]) removeTile(id);
        onlineCount = 0;
        stopShare();
      } else if (state === "Connected") {
        banner("");
      } else if (code !== 0) {
        banner(`Connection interrupted — reconnecting (${codeName(code)})`);
      }
      setLoggedIn(state !== "Disconnected");
      break;
    }
    case "onRoomStateChanged": {
      const code = Number(d.error_code);
      const what: Record<string, string> = {
        LoginFailed: "Login failed",
        ReconnectFailed: "Could not reconnect",
        KickOut: "Removed from the room",
        LogoutFailed: "Logout failed",
      };
      const reason = String(d.reason);
      if (code !== 0 && what[reason]) {
        let message = "";
        try {
          message = String((JSON.parse(String(d.extended_data)) as { message?: string }).message ?? "");
        } catch {
          message = "";
        }
        banner(`${what[reason]}: ${explain(code, message)}`);
      }
      break;
    }
    case "onRoomOnlineUserCountUpdate":
      onlineCount = Number(d.count);
      break;
    case "onRoomStreamUpdate":
      if (d.update_type === "Add" && ui.autoplay.checked) {
        for (const s of d.streams as StreamInfo[]) play(s.stream_id);
      }
      break;
    case "onPublisherStateUpdate": {
      // The share's events may come after it stopped: its stream ID stays in the field.
      const shared = d.stream_id === ui.shareId.value.trim();
      const chip = shared ? ui.shareState : ui.localState;
      chip.textContent = String(d.state);
      chip.dataset.state = String(d.state);
      const code = Number(d.error_code);
      if (code !== 0 && d.state === "NoPublish") {
        banner(`${shared ? "Sharing" : "Publishing"} failed: ${explain(code)}`);
        if (shared) stopShare();
      }
      break;
    }
    case "onPlayerStateUpdate": {
      const tile = tiles.get(String(d.stream_id));
      if (tile) {
        tile.state.textContent = String(d.state);
        tile.state.dataset.state = String(d.state);
        if (d.state === "NoPlay") removeTile(String(d.stream_id));
      }
      break;
    }
    case "onRoomTokenWillExpire":
      banner(`The token expires in ${String(d.remain_time_in_second)} s: paste a new one and press Log in to renew it.`);
      break;
  }
  renderRoom();
  renderButtons();
}

function setLoggedIn(on: boolean): void {
  for (const el of [ui.appId, ui.roomId, ui.userId, ui.userName, ui.notify]) el.disabled = on;
  ui.login.textContent = on ? "Renew token" : "Log in";
}

function renderButtons(): void {
  const loggedIn = engine?.roomId != null;
  const publishing = engine?.publishing ?? null;
  ui.logout.disabled = !loggedIn;
  ui.publish.disabled = !loggedIn || publishing !== null;
  ui.unpublish.disabled = publishing === null;
  ui.stopPreview.disabled = preview === null;
  ui.preview.disabled = preview !== null;
  ui.share.disabled = !loggedIn || share !== null;
  ui.stopShare.disabled = share === null;
  ui.shareTile.hidden = share === null;
  if (!publishing) {
    ui.localState.textContent = "NoPublish";
    ui.localState.dataset.state = "NoPublish";
  }
}

function renderRoom(): void {
  const users = engine?.roomUsers ?? [];
  const streams = engine?.roomStreams ?? [];
  ui.count.textContent = String(onlineCount || (engine?.roomId ? users.length + 1 : 0));
  ui.users.replaceChildren(
    ...(users.length
      ? users.map((u) => {
          const li = document.createElement("li");
          li.innerHTML = `<span class="grow"><span class="id"></span> <span class="who"></span></span>`;
          (li.querySelector(".id") as HTMLElement).textContent = u.user_id;
          (li.querySelector(".who") as HTMLElement).textContent = u.user_name !== u.user_id ? u.user_name : "";
          return li;
        })
      : [emptyItem(engine?.roomId ? "Nobody else yet" : "Not in a room")]),
  );
  ui.streams.replaceChildren(
    ...(streams.length
      ? streams.map((s) => {
          const li = document.createElement("li");
          li.dataset.stream = s.stream_id;
          const name = document.createElement("span");
          name.className = "grow";
          name.innerHTML = `<span class="id"></span> <span class="who"></span> <span class="mutes"></span>`;
          (name.querySelector(".id") as HTMLElement).textContent = s.stream_id;
          (name.querySelector(".who") as HTMLElement).textContent = `by ${s.user.user_id}`;
          const mutes = [s.audio_muted ? "mic off" : "", s.video_muted ? "camera off" : ""].filter(Boolean);
          (name.querySelector(".mutes") as HTMLElement).textContent = mutes.join(" · ");
          const playing = engine?.playerState(s.stream_id) !== "NoPlay";
          const b = document.createElement("button");
          b.className = "small";
          b.textContent = playing ? "Stop" : "Play";
          b.dataset.action = playing ? "stop" : "play";
          b.onclick = () => (playing ? stopPlay(s.stream_id) : play(s.stream_id));
          li.append(name, b);
          return li;
        })
      : [emptyItem("No streams")]),
  );
}

function emptyItem(text: string): HTMLLIElement {
  const li = document.createElement("li");
  li.className = "empty";
  li.textContent = text;
  return li;
}

async function login(): Promise<void> {
  banner("");
  audio();
  const token = ui.token.value.trim();
  if (engine?.roomId) {
    banner("Renewing the token…", true);
    try {
      await engine.renewToken(token);
      banner("Token renewed.", true);
    } catch (e) {
      const err = e as SdkError;
      banner(`The server refused the token: ${codeName(err.code)}: ${err.message}`);
    }
    return;
  }
  const appId = Number(ui.appId.value);
  if (!Number.isInteger(appId) || appId <= 0) return banner("AppID must be a number.");
  if (!token) {
    return banner(
      ui.mint.hidden
        ? "A token is required: mint one on the server with `confer token mint --app-id … --user …`."
        : "A token is required: press “Get dev token” or paste one.",
    );
  }
  engine?.destroy();
  engine = new WebEngine({ server: serverUrl, appId });
  engine.onEvent = onEvent;
  engine.onRemoteMedia = attachRemote;
  if (preview) engine.setLocalMedia(localTracks());
  applyMutes();
  try {
    const userId = ui.userId.value.trim();
    engine.loginRoom(
      ui.roomId.value.trim(),
      { user_id: userId, user_name: ui.userName.value.trim() || userId },
      { token, isUserStatusNotify: ui.notify.checked },
    );
  } catch (e) {
    banner(e instanceof SdkError ? `${e.message} (${codeName(e.code)})` : String(e));
  }
}

function logout(): void {
  try {
    engine?.logoutRoom();
  } catch (e) {
    banner(String(e));
  }
}

// ----------------------------------------------------------------- preview

function localTracks(): { audio: MediaStreamTrack | null; video: MediaStreamTrack | null } {
  return {
    audio: preview?.stream.getAudioTracks()[0] ?? null,
    video: preview?.stream.getVideoTracks()[0] ?? null,
  };
}

function startTestSource(): { stream: MediaStream; pattern: TestPattern; tone: Tone } {
  const label = ui.userId.value.trim() || "confer";
  // `?pattern=1280x720`: another size (the network bench's 720p30 source).
  const [width, height] = (params.get("pattern") ?? "640x360").split("x").map(Number);
  const pattern = new TestPattern({ width: width || 640, height: height || 360, fps: 30, label });
  const tone = new Tone(audio(), Number(ui.toneHz.value) || 660);
  return { stream: new MediaStream([tone.track, pattern.track]), pattern, tone };
}

async function startPreview(): Promise<void> {
  if (preview) return;
  audio();
  if (ui.source.value === "camera") {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30 } },
      });
      preview = { stream, pattern: null, tone: null };
    } catch (e) {
      banner(`No camera or microphone allowed (${(e as Error).name}): using the test pattern and a tone instead.`);
      ui.source.value = "test";
    }
  }
  if (!preview) preview = startTestSource();
  ui.localVideo.srcObject = preview.stream;
  ui.localPlaceholder.hidden = true;
  ui.localVideo.onloadeddata = () => engine?.emit("onPublisherCapturedVideoFirstFrame", { channel: "Main" });
  engine?.setLocalMedia(localTracks());
  renderButtons();
}

function stopPreview(): void {
  if (!preview) return;
  for (const t of preview.stream.getTracks()) t.stop();
  preview.pattern?.stop();
  preview.tone?.stop();
  preview = null;
  ui.localVideo.srcObject = null;
  ui.localPlaceholder.hidden = false;
  engine?.setLocalMedia({ audio: null, video: null });
  renderButtons();
}

async function publish(): Promise<void> {
  if (!engine) return;
  if (!preview) await startPreview();
  const streamId = ui.streamId.value.trim() || `${ui.userId.value.trim()}-web`;
  ui.streamId.value = streamId;
  try {
    engine.startPublishingStream(streamId);
  } catch (e) {
    banner(e instanceof SdkError ? `${e.message} (${codeName(e.code)})` : String(e));
  }
  renderButtons();
}

function unpublish(): void {
  try {
    engine?.stopPublishingStream();
  } catch (e) {
    banner(String(e));
  }
  renderButtons();
}

// ------------------------------------------------------------------ share

async function startShare(): Promise<void> {
  if (!engine?.roomId || share) return;
  const streamId = ui.shareId.value.trim() || screenStreamId(ui.userId.value.trim());
  ui.shareId.value = streamId;
  ui.share.disabled = true;
  try {
    share = await ScreenShare.start(engine, streamId, ui.shareHint.value as ScreenHint, () => {
      // The browser ended the capture (its "Stop sharing", or the source closed).
      share = null;
      endSharePreview();
    });
    ui.shareVideo.srcObject = share.stream;
    ui.shareVideo.onloadeddata = () => engine?.emit("onPublisherCapturedVideoFirstFrame", { channel: "Aux" });
  } catch (e) {
    const why = e instanceof SdkError ? `${e.message} (${codeName(e.code)})` : `${(e as Error).name}: ${(e as Error).message}`;
    banner(`Screen sharing did not start: ${why}`);
  }
  renderButtons();
}

function stopShare(): void {
  share?.stop();
  share = null;
  endSharePreview();
}

function endSharePreview(): void {
  ui.shareVideo.srcObject = null;
  ui.shareState.textContent = "NoPublish";
  ui.shareState.dataset.state = "NoPublish";
  renderButtons();
}

function applyMutes(): void {
  engine?.muteMicrophone(ui.muteMic.checked);
  engine?.enableCamera(!ui.cameraOff.checked);
}

// ------------------------------------------------------------------- play

function play(streamId: string): void {
  if (!engine || engine.playerState(streamId) !== "NoPlay") return;
  audio();
  addTile(streamId);
  try {
    engine.startPlayingStream(streamId);
    applyLayerChoice(streamId);
  } catch (e) {
    removeTile(streamId);
    banner(e instanceof SdkError ? `${e.message} (${codeName(e.code)})` : String(e));
  }
  renderRoom();
}

/** A tile's fixed layer goes to the engine at once; "auto" tiles follow their size. */
function applyLayerChoice(streamId: string): void {
  const choice = tiles.get(streamId)?.layerChoice.value;
  if (choice && choice !== "auto") engine?.setPlayStreamVideoLayer(streamId, choice as VideoLayer);
  measureTiles();
}

/** The rendered height of every "auto" tile's video, in device pixels, to the layer caps. */
function measureTiles(): void {
  const dpr = window.devicePixelRatio || 1;
  const sizes: TileSize[] = [];
  for (const [streamId, tile] of tiles) {
    if (tile.layerChoice.value !== "auto") continue;
    const height = tile.screen.getBoundingClientRect().height;
    sizes.push({ streamId, heightPx: Math.round(height * dpr), shown: height > 0, thumbnail: false });
  }
  layerCaps.update(sizes);
}

function stopPlay(streamId: string): void {
  try {
    engine?.stopPlayingStream(streamId);
  } catch (e) {
    banner(String(e));
  }
  removeTile(streamId);
  renderRoom();
}

function addTile(streamId: string): RemoteTile {
  const existing = tiles.get(streamId);
  if (existing) return existing;
  const el = document.createElement("article");
  el.className = isScreenStream(streamId) ? "tile share" : "tile";
  el.dataset.stream = streamId;
  el.innerHTML = `
    <header><span class="title"></span><span class="chip" data-state="PlayRequesting">PlayRequesting</span></header>
    <div class="screen"><video autoplay playsinline></video><div class="overlay"></div></div>
    <footer class="stats">waiting for media…</footer>
    <div class="controls"><button class="small" data-action="mute">Mute audio</button><button class="small" data-action="stop">Stop</button>
      <label>Layer <select data-action="layer">${LAYER_CHOICES.map((c) => `<option>${c}</option>`).join("")}</select></label></div>`;
  (el.querySelector(".title") as HTMLElement).textContent = streamId;
  const video = el.querySelector("video") as HTMLVideoElement;
  const muteButton = el.querySelector('[data-action="mute"]') as HTMLButtonElement;
  muteButton.onclick = () => {
    video.muted = !video.muted;
    muteButton.textContent = video.muted ? "Unmute audio" : "Mute audio";
  };
  (el.querySelector('[data-action="stop"]') as HTMLButtonElement).onclick = () => stopPlay(streamId);
  const layerChoice = el.querySelector('[data-action="layer"]') as HTMLSelectElement;
  const fixed = params.get("layer");
  if (fixed && (LAYER_CHOICES as readonly string[]).includes(fixed)) layerChoice.value = fixed;
  layerChoice.onchange = () => {
    try {
      applyLayerChoice(streamId);
    } catch (e) {
      banner(e instanceof SdkError ? `${e.message} (${codeName(e.code)})` : String(e));
    }
  };
  const screen = el.querySelector(".screen") as HTMLElement;
  tileResize.observe(screen);
  ui.tiles.append(el);
  const tile: RemoteTile = {
    el,
    video,
    state: el.querySelector(".chip") as HTMLElement,
    stats: el.querySelector(".stats") as HTMLElement,
    overlay: el.querySelector(".overlay") as HTMLElement,
    muteButton,
    screen,
    layerChoice,
    videoProbe: new VideoProbe(video, () => engine?.emit("onPlayerRenderVideoFirstFrame", { stream_id: streamId })),
    audioProbe: null,
    audioTrackId: null,
  };
  video.onloadeddata = () => engine?.emit("onPlayerRecvVideoFirstFrame", { stream_id: streamId });
  tiles.set(streamId, tile);
  return tile;
}

function removeTile(streamId: string): void {
  const tile = tiles.get(streamId);
  if (!tile) return;
  tile.videoProbe.stop();
  tile.audioProbe?.stop();
  tile.video.srcObject = null;
  tileResize.unobserve(tile.screen);
  tile.el.remove();
  tiles.delete(streamId);
  measureTiles();
}

function attachRemote(streamId: string, stream: MediaStream): void {
  const tile = tiles.get(streamId) ?? addTile(streamId);
  if (tile.video.srcObject !== stream) tile.video.srcObject = stream;
  void tile.video.play().catch(() => {});
  const track = stream.getAudioTracks()[0];
  if (track && track.id !== tile.audioTrackId) {
    tile.audioProbe?.stop();
    tile.audioTrackId = track.id;
    tile.audioProbe = new AudioProbe(audio(), new MediaStream([track]));
    track.addEventListener("unmute", () => engine?.emit("onPlayerRecvAudioFirstFrame", { stream_id: streamId }), {
      once: true,
    });
  }
}

// ------------------------------------------------------------------ stats

/** "direct (udp)", "direct over tcp", "relayed by TURN (tcp)", or "path pending". */
function pathText(p: MediaPath | null): string {
  if (!p) return "path pending";
  if (p.local === "relay") return `relayed by TURN (${p.relay_protocol ?? "udp"})`;
  return p.protocol === "tcp" ? "direct over tcp" : "direct (udp)";
}

function qualityText(q: Quality | undefined): string {
  if (!q) return "—";
  return `${q.width}×${q.height} · ${q.fps} fps · ${q.video_kbps + q.audio_kbps} kbps · rtt ${q.rtt_ms} ms · loss ${q.packet_loss_pct}% · ${q.codec.replace("video/", "")} · ${q.level} · ${pathText(q.path)}`;
}

function refreshStats(): void {
  const quality = engine?.lastQuality;
  const pub = engine?.publishing;
  const shared = share ? engine?.publishingOn("Aux") : null;
  ui.shareStats.textContent = shared ? `${shared.streamId} · ${qualityText(quality?.get(shared.streamId)?.quality)}` : "—";
  ui.localStats.textContent = pub
    ? `${pub.streamId} · ${qualityText(quality?.get(pub.streamId)?.quality)}${sendingLayers()}`
    : preview
      ? "preview only"
      : "—";
  for (const [streamId, tile] of tiles) {
    const layer = engine?.playLayer(streamId);
    tile.stats.textContent = `${qualityText(quality?.get(streamId)?.quality)} · layer up to ${layer ?? "—"}`;
    const spans: string[] = [];
    const last: FrameRead | null = tile.videoProbe.last;
    // Only live figures: a stream that ended or stalled shows how long ago, not its last frame.
    const ageS = last ? (nowUs() - last.presentedUs) / 1e6 : 0;
    if (last && ageS < STALE_AFTER_S) spans.push(`frame #${last.frameNumber}`, `glass-to-glass ${Math.round(last.latencyMs)} ms`);
    else if (last) spans.push(`no video for ${Math.floor(ageS)} s`);
    if (tile.audioProbe) {
      const a = tile.audioProbe.measure();
      if (a.rms > 1e-3) spans.push(`audio ${Math.round(a.frequencyHz)} Hz`);
    }
    tile.overlay.replaceChildren(
      ...spans.map((s) => {
        const span = document.createElement("span");
        span.textContent = s;
        return span;
      }),
    );
  }
}

/** " · layers q h -f": the publisher's simulcast encodings, a paused one (dynacast) with a minus; "" without simulcast. */
function sendingLayers(): string {
  const video = engine
    ?.publisherConnection()
    ?.getTransceivers()
    .find((t) => t.receiver.track.kind === "video");
  const encodings = video?.sender.getParameters().encodings.filter((e) => e.rid) ?? [];
  return encodings.length ? ` · layers ${encodings.map((e) => (e.active ? e.rid : `-${e.rid}`)).join(" ")}` : "";
}

/** Whether the browser can send H.264 (Firefox needs its OpenH264 plugin). */
function hasH264(): boolean {
  const caps = typeof RTCRtpSender.getCapabilities === "function" ? RTCRtpSender.getCapabilities("video") : null;
  return !caps || caps.codecs.some((c) => c.mimeType.toLowerCase() === "video/h264");
}

// ------------------------------------------------------------ debug hooks

/** What tests and the bench read from the page. */
const debug = {
  log: eventLog,
  engine: (): WebEngine | null => engine,
  frames: (streamId: string): FrameRead[] => [...(tiles.get(streamId)?.videoProbe.reads ?? [])],
  presented: (streamId: string): number => tiles.get(streamId)?.videoProbe.presented ?? 0,
  audio: (streamId: string): { frequencyHz: number; rms: number } | null => tiles.get(streamId)?.audioProbe?.measure() ?? null,
  patternFrame: (): number | null => preview?.pattern?.frameNumber ?? null,
  /** The page's own screen share: its stream, hint and the capture's settings. */
  share: (): { streamId: string; hint: ScreenHint; settings: MediaTrackSettings | null } | null =>
    share ? { streamId: share.streamId, hint: share.hint, settings: share.stream.getVideoTracks()[0]?.getSettings() ?? null } : null,
  quality: (): Record<string, unknown> => Object.fromEntries(engine?.lastQuality ?? []),
  /** Each played stream's layer cap. */
  layers: (): Record<string, VideoLayer | null> => Object.fromEntries([...tiles.keys()].map((id) => [id, engine?.playLayer(id) ?? null])),
  /** The size of the picture a played stream's <video> shows now. */
  videoSize: (streamId: string): { width: number; height: number } | null => {
    const v = tiles.get(streamId)?.video;
    return v ? { width: v.videoWidth, height: v.videoHeight } : null;
  },
};
(window as unknown as { conferDebug: typeof debug }).conferDebug = debug;

// ------------------------------------------------------------------ start

async function init(): Promise<void> {
  ui.serverInfo.textContent = serverUrl;
  const set = (el: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, key: string) => {
    const v = params.get(key);
    if (v !== null) el.value = v;
  };
  set(ui.appId, "app_id");
  set(ui.roomId, "room");
  set(ui.userId, "user");
  set(ui.userName, "name");
  set(ui.token, "token");
  set(ui.streamId, "stream");
  set(ui.source, "source");
  set(ui.toneHz, "tone");
  set(ui.shareHint, "share_hint");
  if (params.has("notify")) ui.notify.checked = params.get("notify") !== "0";
  if (params.has("autoplay")) ui.autoplay.checked = params.get("autoplay") !== "0";
  if (params.has("minrate")) publishMinRate(Number(params.get("minrate")) || 0);
  if (params.has("repair_ms")) repairPlayoutTarget(Number(params.get("repair_ms")) || 0);
  if (!ui.userId.value) ui.userId.value = `web-${Math.random().toString(36).slice(2, 7)}`;

  ui.form.onsubmit = (e) => {
    e.preventDefault();
    void login();
  };
  ui.logout.onclick = logout;
  ui.mint.onclick = () => void mintDevToken();
  ui.preview.onclick = () => void startPreview();
  ui.stopPreview.onclick = stopPreview;
  ui.publish.onclick = () => void publish();
  ui.unpublish.onclick = unpublish;
  ui.share.onclick = () => void startShare();
  ui.stopShare.onclick = stopShare;
  ui.muteMic.onchange = applyMutes;
  ui.cameraOff.onchange = applyMutes;
  ui.clearLog.onclick = () => ui.log.replaceChildren();
  for (const el of [ui.token, ui.appId, ui.userId, ui.roomId]) el.addEventListener("input", showTokenInfo);
  setInterval(refreshStats, 1000);
  renderRoom();
  renderButtons();

  try {
    const info = (await (await fetch("/api/info")).json()) as { dev_app_ids: number[] };
    if (info.dev_app_ids.length > 0) {
      ui.mint.hidden = false;
      if (!ui.appId.value) ui.appId.value = String(info.dev_app_ids[0]);
    }
  } catch {
    // An older server: no dev conveniences.
  }
  showTokenInfo();
  if (!hasH264()) {
    banner(
      "This browser offers no H.264 codec, the one Confer forwards: video will not flow. " +
        "In Firefox, enable “OpenH264 Video Codec provided by Cisco Systems” under about:addons → Plugins.",
    );
  }
  document.body.dataset.ready = "1";
}

void init();
