// Chat rules (UX.md §5): 1 KB per message, at most 10 messages a second,
// grouping by sender with a timestamp when a minute has passed.

import type { ChatMessage } from "./state.js";
import { utf8Length } from "./names.js";

export const MAX_MESSAGE_BYTES = 1024;
export const MESSAGES_PER_SECOND = 10;
export const GROUP_GAP_MS = 60_000;

export type MessageCheck =
  | { ok: true; text: string; bytes: number }
  | { ok: false; reason: "empty" | "too-long"; bytes: number };

/** Whether `text` can be sent: trimmed, not empty, at most 1 KB of UTF-8. */
export function checkMessage(text: string): MessageCheck {
  const t = text.trim();
  const bytes = utf8Length(t);
  if (!t) return { ok: false, reason: "empty", bytes };
  if (bytes > MAX_MESSAGE_BYTES) return { ok: false, reason: "too-long", bytes };
  return { ok: true, text: t, bytes };
}

/** A sliding one-second window: `take(now)` says whether one more message may go now. */
export class RateLimiter {
  private times: number[] = [];
  constructor(
    private max = MESSAGES_PER_SECOND,
    private windowMs = 1000,
  ) {}

  take(now: number): boolean {
    this.times = this.times.filter((t) => now - t < this.windowMs);
    if (this.times.length >= this.max) return false;
    this.times.push(now);
    return true;
  }
}

export interface MessageGroup {
  from_id: string;
  from_name: string;
  own: boolean;
  time_ms: number;
  messages: ChatMessage[];
}

/** Consecutive messages from one sender less than a minute apart form a group (one name, one time). */
export function groupMessages(messages: readonly ChatMessage[], gapMs = GROUP_GAP_MS): MessageGroup[] {
  const groups: MessageGroup[] = [];
  let prev: ChatMessage | null = null;
  for (const m of messages) {
    const last = groups[groups.length - 1];
    if (last && prev && prev.from.user_id === m.from.user_id && m.time_ms - prev.time_ms < gapMs) {
      last.messages.push(m);
    } else {
      groups.push({
        from_id: m.from.user_id,
        from_name: m.from.user_name || m.from.user_id,
        own: m.own,
        time_ms: m.time_ms,
        messages: [m],
      });
    }
    prev = m;
  }
  return groups;
}

/** "09:05" in local time. */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}
