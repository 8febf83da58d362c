// The sound level events' glue: it starts and stops the monitor for whoever
// shows a meter (home preview, call), feeds the pure trackers of speaking.ts,
// dispatches `app/speaking` when who speaks changes, and tells the meters and
// the "You're muted" hint what to show. Timers only; no DOM.

import type { Api } from "./tauri.js";
import { normaliseError } from "./tauri.js";
import { ErrorCode } from "./generated/error-codes.js";
import type { CallStore } from "./state.js";
import type { AppEvent, SdkEvent } from "./types.js";
import { clampLevel, MONITOR_INTERVAL_MS, MonitorUsers, MutedHint, SELF, SpeakingTracker } from "./speaking.js";

/** With no report for this long, the meters fall to 0 (the monitor stopped, the engine went away). */
const STALE_MS = 1_000;

export type MonitorUser = "home" | "call";

export class SoundLevels {
  /** Our microphone's last level (0..100). */
  captured = 0;
  /** false once `start_sound_level_monitor` was refused (an app without it): meters hide. */
  available = true;
  private readonly monitor: MonitorUsers;
  private readonly tracker = new SpeakingTracker();
  private readonly hint = new MutedHint();
  private readonly capturedListeners = new Set<(level: number) => void>();
  private readonly hintListeners = new Set<(show: boolean) => void>();
  private readonly availableListeners = new Set<(available: boolean) => void>();
  private holdTimer: ReturnType<typeof setTimeout> | null = null;
  private staleTimer: ReturnType<typeof setTimeout> | null = null;
  private hintShown = false;

  constructor(
    private api: Pick<Api, "startSoundLevelMonitor" | "stopSoundLevelMonitor">,
    private store: CallStore,
    private now: () => number = () => performance.now(),
  ) {
    this.monitor = new MonitorUsers(
      () => {
        this.api.startSoundLevelMonitor(MONITOR_INTERVAL_MS).then(
          () => this.setAvailable(true),
          // No engine at this instant (being re-created): the next acquire starts it. Anything else: an app without levels.
          (e) => {
            if (normaliseError(e).code !== ErrorCode.EngineDestroyed) this.setAvailable(false);
          },
        );
      },
      () => {
        this.api.stopSoundLevelMonitor().catch(() => {});
        this.setCaptured(0);
        this.tracker.clear();
        this.publish();
      },
    );
    store.subscribe((s, prev) => {
      // A new call: the hint's rate limit starts over.
      if (prev.phase === "idle" && s.phase !== "idle") this.hint.reset();
      if (s.phase === "idle" && prev.phase !== "idle") {
        this.tracker.clear();
        this.hint.reset();
      }
      if (s.local.mic !== prev.local.mic) {
        if (!s.local.mic) this.tracker.drop(SELF);
        this.updateHint();
      }
    });
  }

  /** `who` shows a meter: (re)start the monitor (an engine re-created since drops it). */
  acquire(who: MonitorUser): void {
    this.monitor.acquire(who);
  }

  release(who: MonitorUser): void {
    this.monitor.release(who);
  }

  /** Every event from `listenAll`; only the two level events matter here. */
  onEvent(e: SdkEvent | AppEvent): void {
    if (e.event === "CapturedSoundLevelUpdate") this.onCaptured(clampLevel(e.level));
    else if (e.event === "RemoteSoundLevelUpdate") this.onRemote(e.levels ?? {});
  }

  onCapturedLevel(fn: (level: number) => void): () => void {
    this.capturedListeners.add(fn);
    return () => this.capturedListeners.delete(fn);
  }

  onHint(fn: (show: boolean) => void): () => void {
    this.hintListeners.add(fn);
    return () => this.hintListeners.delete(fn);
  }

  onAvailable(fn: (available: boolean) => void): () => void {
    this.availableListeners.add(fn);
    return () => this.availableListeners.delete(fn);
  }

  private onCaptured(level: number): void {
    const now = this.now();
    this.setCaptured(level);
    const s = this.store.state;
    if (s.phase !== "idle" && s.local.mic) this.tracker.level(SELF, level, now);
    else this.tracker.drop(SELF);
    this.hint.update(level, s.phase === "in-call" && !s.local.mic, now);
    this.updateHint();
    this.publish();
  }

  private onRemote(levels: Record<string, number>): void {
    this.tracker.levels(levels, this.now(), (k) => k !== SELF);
    this.publish();
  }

  private setCaptured(level: number): void {
    this.captured = level;
    for (const fn of [...this.capturedListeners]) fn(level);
    if (this.staleTimer) clearTimeout(this.staleTimer);
    this.staleTimer = level > 0 ? setTimeout(() => this.onCaptured(0), STALE_MS) : null;
  }

  private setAvailable(available: boolean): void {
    if (available === this.available) return;
    this.available = available;
    for (const fn of [...this.availableListeners]) fn(available);
  }

  private updateHint(): void {
    const s = this.store.state;
    if (!(s.phase === "in-call" && !s.local.mic)) this.hint.update(0, false, this.now());
    else this.hint.expire(this.now());
    if (this.hint.visible === this.hintShown) return;
    this.hintShown = this.hint.visible;
    for (const fn of [...this.hintListeners]) fn(this.hintShown);
  }

  /** Tells the store who speaks (a no-op when nothing changed) and ends holds on time. */
  private publish(): void {
    const speaking = this.tracker.speaking();
    this.store.dispatch({ event: "app/speaking", self: speaking.includes(SELF), streams: speaking.filter((k) => k !== SELF) });
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    const next = this.tracker.nextExpiry();
    if (next !== null) {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = null;
        this.tracker.tick(this.now());
        this.publish();
      }, Math.max(0, next - this.now()) + 5);
    }
  }
}
