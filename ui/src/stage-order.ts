// Who goes where on the call stage (UX.md §2), as pure functions:
// - the grid order: self, active speakers, camera-on, join time, kept stable
//   across renders (a new speaker not on the current page is swapped into the
//   least-recently-speaking slot instead of re-sorting: LK `tile-array-update.ts`);
// - the speaker view's stage tile: a pin wins; else the most recent remote
//   speaker, kept when nobody speaks, switched at most once per 1.5 s, never us.

export interface OrderTile {
  key: string;
  self: boolean;
  /** Speaking now. */
  speaking: boolean;
  /** When this tile last spoke (ms; 0 = never). */
  lastSpokeAt: number;
  cameraOn: boolean;
  /** Join order (lower = earlier). */
  joinSeq: number;
  /** A shared screen: right after self, never swapped out for a speaker. */
  share?: boolean;
}

/** The full sort: self, shared screens, speaking now, most recent speakers, camera on, join time. */
export function sortTiles(tiles: readonly OrderTile[]): OrderTile[] {
  return [...tiles].sort(
    (a, b) =>
      Number(b.self) - Number(a.self) ||
      Number(!!b.share) - Number(!!a.share) ||
      Number(b.speaking) - Number(a.speaking) ||
      b.lastSpokeAt - a.lastSpokeAt ||
      Number(b.cameraOn) - Number(a.cameraOn) ||
      a.joinSeq - b.joinSeq ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
}

/**
 * The tile order for this render, given the previous one.
 *
 * - No previous order: the full sort.
 * - Otherwise tiles keep their places; gone ones leave (the rest closes up),
 *   new ones join at the end in sort order, self stays first, shared screens
 *   right after it.
 * - Each tile speaking now that is not on page `page` (of `perPage` tiles) is
 *   swapped with the tile on that page that spoke least recently (never self,
 *   never another speaker; ties: the later-joined one); nothing else moves.
 */
export function stableOrder(prev: readonly string[], tiles: readonly OrderTile[], perPage: number, page = 0): string[] {
  const byKey = new Map(tiles.map((t) => [t.key, t]));
  const sorted = sortTiles(tiles).map((t) => t.key);
  if (prev.length === 0) return sorted;
  const kept = prev.filter((k) => byKey.has(k));
  const keptSet = new Set(kept);
  const order = [...kept, ...sorted.filter((k) => !keptSet.has(k))];
  const selfIdx = order.findIndex((k) => byKey.get(k)!.self);
  if (selfIdx > 0) order.unshift(...order.splice(selfIdx, 1));
  // Shared screens come right after self (UX.md §2 "Order").
  const shares = order.filter((k) => byKey.get(k)!.share);
  if (shares.length) {
    const rest = order.filter((k) => !byKey.get(k)!.share);
    const head = rest.length && byKey.get(rest[0]!)!.self ? 1 : 0;
    order.splice(0, order.length, ...rest.slice(0, head), ...shares, ...rest.slice(head));
  }
  const per = Math.max(1, Math.floor(perPage));
  const pages = Math.max(1, Math.ceil(order.length / per));
  const p = Math.min(Math.max(0, Math.floor(page)), pages - 1);
  const start = p * per;
  const end = Math.min(order.length, start + per);
  const onPage = (i: number): boolean => i >= start && i < end;
  // Newest speakers first, so they win the free slots.
  const speakers = order
    .map((k, i) => ({ t: byKey.get(k)!, i }))
    .filter(({ t, i }) => t.speaking && !t.self && !onPage(i))
    .sort((a, b) => b.t.lastSpokeAt - a.t.lastSpokeAt || a.i - b.i);
  for (const sp of speakers) {
    let victim = -1;
    for (let i = start; i < end; i++) {
      const t = byKey.get(order[i]!)!;
      if (t.self || t.speaking || t.share) continue;
      if (victim < 0) {
        victim = i;
        continue;
      }
      const v = byKey.get(order[victim]!)!;
      if (t.lastSpokeAt < v.lastSpokeAt || (t.lastSpokeAt === v.lastSpokeAt && t.joinSeq > v.joinSeq)) victim = i;
    }
    if (victim < 0) break;
    const from = order.indexOf(sp.t.key);
    [order[victim], order[from]] = [order[from]!, order[victim]!];
  }
  return order;
}

/** Minimum time between two automatic stage switches (no flapping). */
export const SPEAKER_SWITCH_MS = 1500;

/**
 * The speaker view's active speaker: the remote tile that started speaking
 * most recently. It stays when nobody speaks, and changes at most once per
 * `SPEAKER_SWITCH_MS`. `update` returns the key and, when a switch is held
 * back, the time to call `update` again.
 */
export class ActiveSpeaker {
  private current: string | null = null;
  private switchedAt = -Infinity;
  private startedAt = new Map<string, number>();

  constructor(private readonly holdMs = SPEAKER_SWITCH_MS) {}

  get key(): string | null {
    return this.current;
  }

  /**
   * @param remotes the remote tile keys present now (in tile order)
   * @param speaking the remote tile keys speaking now (self excluded by the caller)
   */
  update(remotes: readonly string[], speaking: readonly string[], now: number): { key: string | null; retryAt: number | null } {
    const present = new Set(remotes);
    const talking = new Set(speaking.filter((k) => present.has(k)));
    for (const k of [...this.startedAt.keys()]) if (!talking.has(k)) this.startedAt.delete(k);
    for (const k of talking) if (!this.startedAt.has(k)) this.startedAt.set(k, now);
    if (this.current !== null && !present.has(this.current)) {
      // The stage tile left: no hold for its replacement.
      this.current = null;
      this.switchedAt = -Infinity;
    }
    let candidate: string | null = null;
    let latest = -Infinity;
    for (const [k, t] of this.startedAt) {
      if (t > latest || (t === latest && remotes.indexOf(k) < remotes.indexOf(candidate ?? k))) {
        candidate = k;
        latest = t;
      }
    }
    if (this.current !== null && talking.has(this.current)) candidate = this.current;
    if (candidate === null || candidate === this.current) {
      if (this.current === null && remotes.length) this.current = remotes[0]!;
      return { key: this.current, retryAt: null };
    }
    if (this.current !== null && now - this.switchedAt < this.holdMs) {
      return { key: this.current, retryAt: this.switchedAt + this.holdMs };
    }
    this.current = candidate;
    this.switchedAt = now;
    return { key: this.current, retryAt: null };
  }

  reset(): void {
    this.current = null;
    this.switchedAt = -Infinity;
    this.startedAt.clear();
  }
}
