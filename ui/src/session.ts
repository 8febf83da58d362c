// The call flow (the seed's API sequence), driving the Api from user intents
// and SDK events. No DOM: tests run it against a fake Api.
//
//   join:  create_engine (or reuse) -> start_preview(self) -> login_room
//          -> start_publishing_stream(`${user_id}-main`)
//   event: RoomStreamUpdate Add -> start_playing_stream(stream, tile); Delete -> stop_playing_stream
//   leave: (stop_share) -> stop_publishing_stream -> stop_preview -> logout_room -> destroy_engine -> stop_hosting

import type { Api } from "./tauri.js";
import { normaliseError, UNKNOWN_ERROR_CODE } from "./tauri.js";
import type { AppEvent, EngineProfile, HostInfo, HostInvite, HostScope, ReachabilityReport, SdkEvent, User } from "./types.js";
import type { CallStore } from "./state.js";
import { mainStreamId } from "./names.js";
import { checkMessage, RateLimiter } from "./chat.js";

export const SELF_TILE = "self";
export const PREVIEW_TILE = "preview";

export function tileIdForStream(streamId: string): string {
  return `stream:${streamId}`;
}

export interface JoinParams {
  profile: EngineProfile;
  room_id: string;
  user: User;
  /** The invite's token (guests); none when the profile's App Sign logs in (the host, own servers). */
  token?: string;
}

/** How long a host's invite link works. */
export const INVITE_TTL_SECS = 24 * 3600;

export type LeaveReason = "user" | "host-stopped";

function sameProfile(a: EngineProfile | null, b: EngineProfile): boolean {
  return (
    !!a &&
    a.server === b.server &&
    a.app_id === b.app_id &&
    (a.app_sign ?? "") === (b.app_sign ?? "") &&
    (a.pin ?? "") === (b.pin ?? "") &&
    (a.scenario ?? "Default") === (b.scenario ?? "Default")
  );
}

export class CallSession {
  /** The profile of the engine that exists now (null: none). */
  engine: EngineProfile | null = null;
  host: HostInfo | null = null;
  joined: JoinParams | null = null;
  private previewTile: string | null = null;
  private playing = new Set<string>();
  private chatLimit = new RateLimiter();
  private localSeq = 0;
  private engineOp: Promise<unknown> = Promise.resolve();
  private leaving = false;

  /** Applies device and source choices to a fresh engine (set by the home screen). */
  mediaSetup: (api: Api) => Promise<void> = async () => {};
  /** Runs first when leaving the room (leave, and rejoin's logout): main.ts stops a running screen share there. */
  beforeLeave: () => Promise<void> = async () => {};
  /** Called after leave() finished, to show the home screen. */
  onLeft: (reason: LeaveReason) => void = () => {};

  constructor(
    private api: Api,
    private store: CallStore,
  ) {}

  get hosting(): boolean {
    return this.host !== null;
  }

  /** Reports a failed command as a toast (never blocks the flow). */
  private fail(e: unknown, title?: string): void {
    const error = normaliseError(e);
    this.store.dispatch(title ? { event: "app/error", error, title } : { event: "app/error", error });
  }

  /** Creates the engine for `profile`, reusing the current one when it already matches. Serialised. */
  ensureEngine(profile: EngineProfile): Promise<void> {
    const run = async (): Promise<void> => {
      if (sameProfile(this.engine, profile)) return;
      if (this.engine) {
        this.engine = null;
        this.previewTile = null;
        try {
          await this.api.destroyEngine();
        } catch {
          /* already gone */
        }
      }
      await this.api.createEngine(profile);
      this.engine = { ...profile };
      try {
        await this.mediaSetup(this.api);
      } catch (e) {
        this.fail(e);
      }
    };
    const op = this.engineOp.then(run, run);
    this.engineOp = op.catch(() => {});
    return op;
  }

  /** Starts (or moves) the local preview into `tileId`. Failures become toasts. */
  async preview(tileId: string): Promise<void> {
    if (!this.engine) return;
    try {
      if (this.previewTile && this.previewTile !== tileId) await this.api.stopPreview();
      await this.api.startPreview(tileId);
      this.previewTile = tileId;
    } catch (e) {
      this.fail(e, "Can't show your camera preview");
    }
  }

  async stopPreview(): Promise<void> {
    if (!this.previewTile) return;
    this.previewTile = null;
    try {
      await this.api.stopPreview();
    } catch {
      /* nothing to stop */
    }
  }

  /** Destroys an engine that only served the home preview. */
  async releaseEngine(): Promise<void> {
    if (!this.engine) return;
    await this.stopPreview();
    this.engine = null;
    try {
      await this.api.destroyEngine();
    } catch {
      /* already gone */
    }
  }

  /** Starts the embedded server; the caller then joins with `hostProfile`. */
  async startHosting(scope: HostScope): Promise<HostInfo> {
    this.host = await this.api.hostCall(scope);
    return this.host;
  }

  /** Mints the host's invite for `room` (a fresh token each time; earlier ones work until they expire). */
  async hostInvite(room: string, ttl_secs = INVITE_TTL_SECS): Promise<HostInvite> {
    if (!this.host) throw { code: UNKNOWN_ERROR_CODE, message: "not hosting" };
    return this.api.hostInvite({ room, ttl_secs });
  }

  /** Runs `confer doctor`'s checks against the hosted server's own addresses. */
  async checkReachability(): Promise<ReachabilityReport> {
    if (!this.host) throw { code: UNKNOWN_ERROR_CODE, message: "not hosting" };
    return this.api.checkReachability();
  }

  /** Joins a room. Resolves true once login and publishing were requested; failures leave the call screen in "failed". */
  async join(p: JoinParams): Promise<boolean> {
    const streamId = mainStreamId(p.user.user_id);
    this.joined = p;
    this.playing.clear();
    this.store.dispatch({ event: "app/join", room_id: p.room_id, self: p.user, stream_id: streamId });
    try {
      await this.ensureEngine(p.profile);
    } catch (e) {
      this.failJoin(e);
      return false;
    }
    await this.applyLocal();
    await this.preview(SELF_TILE);
    return this.login();
  }

  private async login(): Promise<boolean> {
    const p = this.joined;
    if (!p) return false;
    try {
      await this.api.loginRoom({
        room_id: p.room_id,
        user_id: p.user.user_id,
        user_name: p.user.user_name,
        ...(p.token ? { token: p.token } : {}),
        is_user_status_notify: true,
      });
    } catch (e) {
      this.failJoin(e);
      return false;
    }
    try {
      await this.api.startPublishingStream(mainStreamId(p.user.user_id));
    } catch (e) {
      this.fail(e, "Others can't see or hear you");
    }
    return true;
  }

  private failJoin(e: unknown): void {
    this.store.dispatch({ event: "app/failed", error: normaliseError(e) });
  }

  /** After a fatal disconnect: log in again in the same room (the engine stays). */
  async rejoin(): Promise<boolean> {
    if (!this.joined) return false;
    for (const id of this.playing) {
      try {
        await this.api.stopPlayingStream(id);
      } catch {
        /* not playing any more */
      }
    }
    this.playing.clear();
    this.store.dispatch({ event: "app/rejoin" });
    try {
      await this.beforeLeave();
    } catch {
      /* rejoin anyway */
    }
    try {
      await this.api.logoutRoom();
    } catch {
      /* already out */
    }
    return this.login();
  }

  /** Side effects of SDK and app events (call after the store saw the event). */
  onEvent(e: SdkEvent | AppEvent): void {
    const s = this.store.state;
    if (e.event === "HostStopped") {
      if (this.leaving) return;
      if (this.hosting && s.phase !== "idle") void this.leave("host-stopped");
      else this.host = null;
      return;
    }
    if (e.event !== "RoomStreamUpdate" || s.phase === "idle" || e.room_id !== s.room_id) return;
    for (const st of e.streams) {
      if (st.stream_id === s.publisher.stream_id) continue;
      if (e.update_type === "Add") {
        if (this.playing.has(st.stream_id)) continue;
        this.playing.add(st.stream_id);
        this.api.startPlayingStream(st.stream_id, tileIdForStream(st.stream_id)).catch((err) => {
          this.playing.delete(st.stream_id);
          this.fail(err, `Can't play ${st.user.user_name || st.user.user_id}'s video`);
        });
      } else if (this.playing.delete(st.stream_id)) {
        this.api.stopPlayingStream(st.stream_id).catch(() => {});
      }
    }
  }

  /** Leaves the call: every step runs even if an earlier one failed. */
  async leave(reason: LeaveReason = "user"): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    // From here on room events are stale (and stop_hosting's own HostStopped is expected).
    this.store.dispatch({ event: "app/leaving" });
    const steps: (() => Promise<unknown>)[] = [
      () => this.api.stopPublishingStream(),
      () => this.stopPreview(),
      () => this.api.logoutRoom(),
      () => this.releaseEngine(),
    ];
    if (this.hosting && reason === "user") steps.push(() => this.api.stopHosting());
    await this.engineOp;
    try {
      await this.beforeLeave();
    } catch {
      /* keep leaving */
    }
    for (const step of steps) {
      try {
        await step();
      } catch {
        /* keep leaving */
      }
    }
    this.engine = null;
    this.previewTile = null;
    this.host = null;
    this.joined = null;
    this.playing.clear();
    this.leaving = false;
    this.store.dispatch({ event: "app/left" });
    this.onLeft(reason);
  }

  /** Sets mic and camera to the local state (after an engine was created). */
  private async applyLocal(): Promise<void> {
    const { mic, camera } = this.store.state.local;
    try {
      await this.api.muteMicrophone(!mic);
      await this.api.enableCamera(camera);
    } catch (e) {
      this.fail(e);
    }
  }

  async setMic(on: boolean): Promise<void> {
    const before = this.store.state.local.mic;
    this.store.dispatch({ event: "app/local", mic: on });
    if (!this.engine) return;
    try {
      await this.api.muteMicrophone(!on);
    } catch (e) {
      this.store.dispatch({ event: "app/local", mic: before });
      this.fail(e, on ? "Can't turn on your microphone" : "Can't mute your microphone");
    }
  }

  async setCamera(on: boolean): Promise<void> {
    const before = this.store.state.local.camera;
    this.store.dispatch({ event: "app/local", camera: on });
    if (!this.engine) return;
    try {
      await this.api.enableCamera(on);
    } catch (e) {
      this.store.dispatch({ event: "app/local", camera: before });
      this.fail(e, on ? "Can't turn on your camera" : "Can't turn off your camera");
    }
  }

  /** Sends a chat message; the result is a state change (sending -> sent | failed). */
  async sendChat(text: string, now = Date.now()): Promise<"sent" | "empty" | "too-long" | "rate-limited" | "failed"> {
    const check = checkMessage(text);
    if (!check.ok) return check.reason;
    if (!this.chatLimit.take(now)) return "rate-limited";
    const key = `own:${++this.localSeq}`;
    this.store.dispatch({ event: "app/chat-sending", key, text: check.text, time_ms: now });
    return this.deliver(key, check.text);
  }

  async retryChat(key: string): Promise<"sent" | "failed" | "rate-limited"> {
    const m = this.store.state.messages.find((x) => x.key === key);
    if (!m || m.status !== "failed") return "failed";
    if (!this.chatLimit.take(Date.now())) return "rate-limited";
    this.store.dispatch({ event: "app/chat-retry", key });
    return this.deliver(key, m.text);
  }

  private async deliver(key: string, text: string): Promise<"sent" | "failed"> {
    try {
      const id = await this.api.sendBroadcastMessage(text);
      this.store.dispatch({ event: "app/chat-sent", key, message_id: id });
      return "sent";
    } catch (e) {
      this.store.dispatch({ event: "app/chat-failed", key, error: normaliseError(e) });
      return "failed";
    }
  }
}

/**
 * The engine profile the host app joins its own call with: `ws_url` and the
 * AppSign (which never leaves this computer), pinned to its own certificate
 * when `ws_url` is TLS.
 */
export function hostProfile(h: HostInfo): EngineProfile {
  const p: EngineProfile = { server: h.ws_url, app_id: h.app_id, app_sign: h.app_sign, scenario: "StandardVideoCall" };
  if (h.fingerprint && /^wss:/i.test(h.ws_url)) p.pin = h.fingerprint;
  return p;
}
