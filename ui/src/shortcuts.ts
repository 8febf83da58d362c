// Keyboard shortcuts (UX.md §3) as a pure function from a key event to an
// action. Letters fire only outside text fields and without Ctrl/Cmd/Alt;
// Ctrl/Cmd+D, Ctrl/Cmd+E and Ctrl/Cmd+Shift+S (share) work everywhere; Space is
// push-to-talk while muted.

export type ShortcutAction =
  | "toggle-mic"
  | "toggle-camera"
  | "toggle-chat"
  | "toggle-people"
  | "help"
  | "escape"
  | "ptt-down"
  | "ptt-up"
  | "page-prev"
  | "page-next"
  | "toggle-layout"
  | "toggle-share"
  | PinAction;

/** 0 pins (or unpins) yourself, 1-9 the n-th remote tile (UX.md §2 "Pin"). */
export type PinAction = "pin-0" | "pin-1" | "pin-2" | "pin-3" | "pin-4" | "pin-5" | "pin-6" | "pin-7" | "pin-8" | "pin-9";

/** The digit of a pin action: 0 = self, 1-9 = the n-th remote tile. */
export function pinIndex(a: ShortcutAction): number | null {
  return a.startsWith("pin-") ? Number(a.slice(4)) : null;
}

export interface KeyInput {
  type: "keydown" | "keyup";
  key: string;
  code?: string;
  ctrl: boolean;
  meta: boolean;
  alt: boolean;
  shift: boolean;
  repeat: boolean;
  /** The focus is in an input, textarea, select or contenteditable. */
  inTextField: boolean;
  /** The focus is on a button or link, where Space means "press it". */
  onControl?: boolean;
}

export interface ShortcutContext {
  micMuted: boolean;
  /** Space is held and unmuted the mic. */
  pttActive: boolean;
}

function isSpace(e: KeyInput): boolean {
  return e.code === "Space" || e.key === " " || e.key === "Spacebar";
}

export function shortcutFor(e: KeyInput, ctx: ShortcutContext): ShortcutAction | null {
  if (e.type === "keyup") {
    return isSpace(e) && ctx.pttActive ? "ptt-up" : null;
  }
  if (e.key === "Escape") return "escape";
  const mod = e.ctrl || e.meta;
  const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (mod && e.shift && !e.alt && k === "s") return e.repeat ? null : "toggle-share";
  if (mod && !e.alt && !e.shift) {
    if (e.repeat) return null;
    if (k === "d") return "toggle-mic";
    if (k === "e") return "toggle-camera";
    return null;
  }
  if (e.inTextField || mod || e.alt) return null;
  if (isSpace(e)) {
    if (e.repeat || e.onControl) return null;
    return ctx.micMuted && !ctx.pttActive ? "ptt-down" : null;
  }
  if (e.repeat) return null;
  if (e.key === "?") return "help";
  if (e.key === "PageUp") return "page-prev";
  if (e.key === "PageDown") return "page-next";
  if (e.shift) return null;
  if (/^[0-9]$/.test(k)) return `pin-${k}` as PinAction;
  switch (k) {
    case "m":
      return "toggle-mic";
    case "v":
      return "toggle-camera";
    case "c":
      return "toggle-chat";
    case "p":
      return "toggle-people";
    case "w":
      return "toggle-layout";
    default:
      return null;
  }
}

/** The keys shown in tooltips, aria-labels and the help overlay. */
export const SHORTCUT_KEYS: Record<ShortcutAction, string> = {
  "toggle-mic": "M or Ctrl+D",
  "toggle-camera": "V or Ctrl+E",
  "toggle-chat": "C",
  "toggle-people": "P",
  help: "?",
  escape: "Esc",
  "ptt-down": "Hold Space",
  "ptt-up": "Release Space",
  "page-prev": "Page Up",
  "page-next": "Page Down",
  "toggle-layout": "W",
  "toggle-share": "Ctrl+Shift+S",
  ...(Object.fromEntries([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((d) => [`pin-${d}`, String(d)])) as Record<PinAction, string>),
};

/** The help overlay's rows: each entry's key combinations ("or" between them, "+" inside one). */
export const SHORTCUT_HELP: readonly { combos: string[][]; hold?: boolean; what: string }[] = [
  { combos: [["M"], ["Ctrl", "D"]], what: "Mute or unmute your microphone" },
  { combos: [["V"], ["Ctrl", "E"]], what: "Turn your camera on or off" },
  { combos: [["Space"]], hold: true, what: "Push to talk while muted" },
  { combos: [["C"]], what: "Open or close chat" },
  { combos: [["P"]], what: "Open or close the people list" },
  { combos: [["W"]], what: "Switch between grid and speaker view" },
  { combos: [["Ctrl", "Shift", "S"]], what: "Share your screen, or stop sharing" },
  { combos: [["1–9"]], what: "Pin the 1st to 9th person in the call (again to unpin)" },
  { combos: [["0"]], what: "Pin or unpin yourself" },
  { combos: [["Page Up"], ["Page Down"]], what: "Previous or next page of tiles" },
  { combos: [["?"]], what: "Show this help" },
  { combos: [["Esc"]], what: "Close a menu or panel, or leave a text field" },
];
