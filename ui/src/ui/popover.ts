// Popovers (device menus, stats): positioned next to their anchor, closed by
// Esc, a click outside, or the anchor again. Each carries `data-occluder`, so
// the surface tracker hides any video surface it overlaps (UX.md §7).

import { h } from "./dom.js";

const open = new Set<Popover>();

export class Popover {
  readonly el: HTMLElement;
  private anchor: HTMLElement | null = null;
  private readonly onDoc = (e: Event): void => {
    const t = e.target as Node | null;
    if (t && (this.el.contains(t) || this.anchor?.contains(t))) return;
    this.close(false);
  };
  private readonly onResize = (): void => this.place();
  onClose: () => void = () => {};

  constructor(label: string, className = "") {
    this.el = h("div", { class: `popover ${className}`.trim(), role: "dialog", "aria-label": label, "data-occluder": true, hidden: true, tabindex: "-1" });
    document.body.append(this.el);
  }

  get isOpen(): boolean {
    return !this.el.hidden;
  }

  toggle(anchor: HTMLElement): void {
    if (this.isOpen && this.anchor === anchor) this.close();
    else this.open(anchor);
  }

  open(anchor: HTMLElement): void {
    for (const p of [...open]) if (p !== this) p.close(false);
    this.anchor?.setAttribute("aria-expanded", "false");
    this.anchor = anchor;
    anchor.setAttribute("aria-expanded", "true");
    this.el.hidden = false;
    open.add(this);
    this.place();
    document.addEventListener("pointerdown", this.onDoc, true);
    document.addEventListener("focusin", this.onDoc, true);
    window.addEventListener("resize", this.onResize);
    const first = this.el.querySelector<HTMLElement>("[aria-selected='true'], button, input, [tabindex='0']");
    (first ?? this.el).focus();
  }

  close(returnFocus = true): void {
    if (!this.isOpen) return;
    this.el.hidden = true;
    open.delete(this);
    document.removeEventListener("pointerdown", this.onDoc, true);
    document.removeEventListener("focusin", this.onDoc, true);
    window.removeEventListener("resize", this.onResize);
    this.anchor?.setAttribute("aria-expanded", "false");
    if (returnFocus) this.anchor?.focus();
    this.onClose();
  }

  /**
   * Next to the anchor, inside the window, where it covers the least video:
   * every tile it overlaps has to hide its native surface (UX.md §7).
   */
  place(): void {
    if (!this.anchor || !this.isOpen) return;
    const a = this.anchor.getBoundingClientRect();
    const size = { width: this.el.offsetWidth, height: this.el.offsetHeight };
    const viewport = { width: document.documentElement.clientWidth, height: document.documentElement.clientHeight };
    const videos = [...document.querySelectorAll<HTMLElement>(".tile-video[data-tile-id]")]
      .filter((el) => !el.closest("[hidden]") && el.getClientRects().length > 0)
      .map((el) => el.getBoundingClientRect());
    const best = placePopover({ left: a.left, top: a.top, right: a.right, bottom: a.bottom }, size, viewport, videos);
    this.el.style.left = `${Math.round(best.left)}px`;
    this.el.style.top = `${Math.round(best.top)}px`;
  }
}

interface R {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/**
 * Where a popover of `size` goes next to `anchor`: the candidate (above,
 * below, left, right; centred or edge-aligned) clamped into the viewport that
 * overlaps the least `videos` area. Ties keep the first (above, centred).
 */
export function placePopover(anchor: R, size: { width: number; height: number }, viewport: { width: number; height: number }, videos: R[], margin = 8): { left: number; top: number } {
  const { width: w, height: hgt } = size;
  const cx = (anchor.left + anchor.right) / 2;
  const cands: { left: number; top: number }[] = [];
  for (const top of [anchor.top - hgt - margin, anchor.bottom + margin]) {
    for (const left of [cx - w / 2, anchor.right - w, anchor.left]) cands.push({ left, top });
  }
  for (const top of [anchor.bottom - hgt, anchor.top]) {
    cands.push({ left: anchor.left - w - margin, top }, { left: anchor.right + margin, top });
  }
  let best = { left: 0, top: 0 };
  let bestScore = Infinity;
  for (const c of cands) {
    const left = Math.max(margin, Math.min(c.left, viewport.width - w - margin));
    const top = Math.max(margin, Math.min(c.top, viewport.height - hgt - margin));
    const box = { left, top, right: left + w, bottom: top + hgt };
    let score = 0;
    for (const v of videos) score += overlapArea(box, v);
    // Never cover the anchor itself.
    score += overlapArea(box, anchor) * 1e6;
    if (score < bestScore - 0.5) {
      bestScore = score;
      best = { left, top };
    }
  }
  return best;
}

function overlapArea(a: R, b: R): number {
  const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
  const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Closes the topmost open popover; true if one was open (Esc handling). */
export function closeTopPopover(): boolean {
  const all = [...open];
  const top = all[all.length - 1];
  if (!top) return false;
  top.close();
  return true;
}

/** Arrow-key navigation inside a listbox of `[role=option]` buttons. */
export function listboxKeys(list: HTMLElement): void {
  list.addEventListener("keydown", (e) => {
    if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(e.key)) return;
    const items = [...list.querySelectorAll<HTMLElement>("[role='option']")];
    if (items.length === 0) return;
    const i = items.indexOf(document.activeElement as HTMLElement);
    let j = i;
    if (e.key === "ArrowDown") j = i < 0 ? 0 : Math.min(items.length - 1, i + 1);
    if (e.key === "ArrowUp") j = i < 0 ? items.length - 1 : Math.max(0, i - 1);
    if (e.key === "Home") j = 0;
    if (e.key === "End") j = items.length - 1;
    e.preventDefault();
    items[j]!.focus();
  });
}
