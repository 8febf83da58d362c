// Sound levels -> what the UI shows (UX.md §1, §2, §4), as pure logic with
// explicit timestamps: the mic meter's steps, who is speaking (hysteresis and
// a hold so the ring does not flicker between words), the "You're muted"
// hint's rate limit, and the sound level monitor's users. No DOM, no Tauri.
//
// Levels are the SDK's 0..100 (`(dBFS + 60) / 60 * 100`, so already on a
// loudness scale): 25 is about -45 dBFS, quiet speech is 50 and up.

/** Steps of the mic meter (Jitsi's `Meter` has 8). */
export const METER_STEPS = 8;
/** Level at or above which someone starts speaking. */
export const SPEAKING_ON = 25;
/** Level below which a speaker counts as silent (hysteresis: between the two, nothing changes). */
export const SPEAKING_OFF = 15;
/** How long the ring stays after the level fell below `SPEAKING_OFF` (UX.md §2: fades after 0.5 s). */
export const SPEAKING_HOLD_MS = 500;
/** The "You're muted" hint: a level above this while muted ... */
export const MUTED_HINT_LEVEL = 30;
/** ... for this long ... */
export const MUTED_HINT_SUSTAIN_MS = 600;
/** ... shows the hint, at most once in this long ... */
export const MUTED_HINT_INTERVAL_MS = 30_000;
/** ... and it hides by itself after this long (unmuting hides it at once). */
export const MUTED_HINT_SHOW_MS = 8_000;
/** The tracker's key for our own microphone (stream IDs are never empty). */
export const SELF = "";
/** The monitor's report interval while a meter is shown. */
export const MONITOR_INTERVAL_MS = 100;

/** Clamps a reported level to 0..100 (NaN and junk are 0). */
export function clampLevel(level: unknown): number {
  const n = typeof level === "number" ? level : Number(level);
  if (!Number.isFinite(n) || n <= 0) return 0;
  return n >= 100 ? 100 : n;
}

/** Lit steps of an `steps`-step meter for a 0..100 level: 0 for silence, all for full scale. */
export function meterSteps(level: number, steps = METER_STEPS): number {
  const l = clampLevel(level);
  // Below the first step's half nothing lights: background hiss does not flicker the meter.
  return Math.min(steps, Math.round((l / 100) * steps));
}

interface Voice {
  speaking: boolean;
  /** When the level last was at or above `SPEAKING_OFF` while speaking. */
  lastLoud: number;
}

/**
 * Who is speaking, from level reports: a key starts speaking when its level
 * reaches `SPEAKING_ON`, stays speaking while it is at or above `SPEAKING_OFF`,
 * and stops `SPEAKING_HOLD_MS` after it fell below (`tick` ends holds when no
 * report comes). Keys are stream IDs (and `SELF`, "", for our microphone).
 */
export class SpeakingTracker {
  private voices = new Map<string, Voice>();

  constructor(
    private on = SPEAKING_ON,
    private off = SPEAKING_OFF,
    private holdMs = SPEAKING_HOLD_MS,
  ) {}

  /** One key's level at `now` (ms). Returns whether it speaks now. */
  level(key: string, level: number, now: number): boolean {
    const l = clampLevel(level);
    const v = this.voices.get(key);
    if (!v) {
      if (l >= this.on) this.voices.set(key, { speaking: true, lastLoud: now });
      return l >= this.on;
    }
    if (l >= this.on || (v.speaking && l >= this.off)) {
      v.speaking = true;
      v.lastLoud = now;
    } else if (v.speaking && now - v.lastLoud >= this.holdMs) {
      this.voices.delete(key);
      return false;
    }
    return v.speaking;
  }

  /**
   * A report for a set of keys (e.g. `RemoteSoundLevelUpdate`): known keys
   * that `isMine` claims and `levels` lacks are treated as silent.
   */
  levels(levels: Record<string, number>, now: number, isMine: (key: string) => boolean = () => true): void {
    for (const [k, l] of Object.entries(levels)) this.level(k, l, now);
    for (const k of [...this.voices.keys()]) if (isMine(k) && !(k in levels)) this.level(k, 0, now);
  }

  /** Ends holds that ran out by `now` (no report came). */
  tick(now: number): void {
    for (const [k, v] of [...this.voices]) if (v.speaking && now - v.lastLoud >= this.holdMs) this.voices.delete(k);
  }

  /** Forgets a key at once (its stream went away, our mic was muted). */
  drop(key: string): void {
    this.voices.delete(key);
  }

  clear(): void {
    this.voices.clear();
  }

  isSpeaking(key: string): boolean {
    return this.voices.get(key)?.speaking ?? false;
  }

  /** The speaking keys, sorted (stable for comparisons). */
  speaking(): string[] {
    return [...this.voices.entries()].filter(([, v]) => v.speaking).map(([k]) => k).sort();
  }

  /** When the next hold runs out (for a timer), or null when nobody speaks. */
  nextExpiry(): number | null {
    let next: number | null = null;
    for (const v of this.voices.values()) {
      const at = v.lastLoud + this.holdMs;
      if (next === null || at < next) next = at;
    }
    return next;
  }
}

/**
 * "You're muted. Press M to unmute": shown when the captured level stays above
 * `MUTED_HINT_LEVEL` for `MUTED_HINT_SUSTAIN_MS` while the mic is muted, at
 * most once per `MUTED_HINT_INTERVAL_MS`; hidden by unmuting, `dismiss()`, or
 * after `MUTED_HINT_SHOW_MS`.
 */
export class MutedHint {
  private loudSince: number | null = null;
  private shownAt: number | null = null;
  private lastShown = -Infinity;
  visible = false;

  constructor(
    private threshold = MUTED_HINT_LEVEL,
    private sustainMs = MUTED_HINT_SUSTAIN_MS,
    private intervalMs = MUTED_HINT_INTERVAL_MS,
    private showMs = MUTED_HINT_SHOW_MS,
  ) {}

  /** A captured level at `now` while the mic is `muted`. Returns whether the hint shows. */
  update(level: number, muted: boolean, now: number): boolean {
    if (!muted) {
      this.loudSince = null;
      this.hide();
      return false;
    }
    this.expire(now);
    if (clampLevel(level) > this.threshold) {
      this.loudSince ??= now;
      if (!this.visible && now - this.loudSince >= this.sustainMs && now - this.lastShown >= this.intervalMs) {
        this.visible = true;
        this.shownAt = now;
        this.lastShown = now;
      }
    } else {
      this.loudSince = null;
    }
    return this.visible;
  }

  /** Hides the hint once its time ran out. Returns whether it shows. */
  expire(now: number): boolean {
    if (this.visible && this.shownAt !== null && now - this.shownAt >= this.showMs) this.hide();
    return this.visible;
  }

  /** Hidden by the user (the rate limit still counts from when it showed). */
  dismiss(): void {
    this.hide();
  }

  /** A new call: forget everything, the rate limit too. */
  reset(): void {
    this.hide();
    this.loudSince = null;
    this.lastShown = -Infinity;
  }

  private hide(): void {
    this.visible = false;
    this.shownAt = null;
  }
}

/**
 * Who needs the sound level monitor (the home preview, the call): `acquire`
 * (re)starts it (the engine may have been re-created since), the last
 * `release` stops it, deferred so that handing over from one user to the
 * next (home -> call) does not stop and restart it.
 */
export class MonitorUsers {
  private users = new Set<string>();
  private pendingStop: unknown = null;

  constructor(
    private start: () => void,
    private stop: () => void,
    private defer: (fn: () => void) => unknown = (fn) => setTimeout(fn, 0),
    private cancel: (handle: unknown) => void = (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  ) {}

  get active(): boolean {
    return this.users.size > 0;
  }

  acquire(who: string): void {
    this.users.add(who);
    if (this.pendingStop !== null) {
      this.cancel(this.pendingStop);
      this.pendingStop = null;
    }
    this.start();
  }

  release(who: string): void {
    if (!this.users.delete(who) || this.users.size > 0 || this.pendingStop !== null) return;
    this.pendingStop = this.defer(() => {
      this.pendingStop = null;
      if (this.users.size === 0) this.stop();
    });
  }
}
