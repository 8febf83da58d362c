// The presenter layout's rules (UX.md §2 "Screen share"), pure: which shared
// screen goes on the stage, and when a share takes the stage by itself.

/** A shared screen's tile: ours (a placeholder: we never see our own screen) or someone else's. */
export interface ShareTile {
  key: string;
  own: boolean;
  /** Join order (lower = earlier). */
  joinSeq: number;
}

/** The share on the stage: the first remote share (join order), else our own; null without shares. */
export function presentedShare(shares: readonly ShareTile[]): string | null {
  const remote = shares.filter((s) => !s.own).sort((a, b) => a.joinSeq - b.joinSeq)[0];
  return remote?.key ?? shares.find((s) => s.own)?.key ?? null;
}

/**
 * Whether a share just took the stage: a share is presented that was not
 * before. The layout then goes back to automatic (the presenter layout),
 * like LiveKit's auto-focus; a pin still wins. When the share ends the
 * layout is whatever the user chose, or automatic again.
 */
export function shareTookStage(before: string | null, now: string | null): boolean {
  return now !== null && now !== before;
}
