// Toasts (UX.md §4): at most 3, each gone after 5 s (paused while hovered or
// focused), role="status", the error code in the text. They render into the
// visible screen's `.toasts` strip, which sits in the layout flow so it never
// covers a video surface.

import type { CallState, CallStore, Notice } from "../state.js";
import { h, icon } from "./dom.js";

export const TOAST_MS = 5000;

export class Toasts {
  private shown = new Map<number, { el: HTMLElement; timer: ReturnType<typeof setTimeout> | null; left: number; since: number }>();

  constructor(private store: CallStore) {
    store.subscribe((s) => this.render(s));
  }

  /** Re-render (also after a screen change, to move toasts to the visible strip). */
  render(s: CallState = this.store.state): void {
    const host = document.querySelector<HTMLElement>('[data-screen]:not([hidden]) .toasts');
    const ids = new Set(s.notices.map((n) => n.id));
    for (const [id, t] of this.shown) {
      if (!ids.has(id)) {
        if (t.timer) clearTimeout(t.timer);
        t.el.remove();
        this.shown.delete(id);
      }
    }
    if (!host) return;
    for (const n of s.notices) {
      let t = this.shown.get(n.id);
      if (!t) {
        const el = this.build(n);
        t = { el, timer: null, left: TOAST_MS, since: 0 };
        this.shown.set(n.id, t);
        this.arm(n.id);
        el.addEventListener("mouseenter", () => this.pause(n.id));
        el.addEventListener("mouseleave", () => this.arm(n.id));
        el.addEventListener("focusin", () => this.pause(n.id));
        el.addEventListener("focusout", () => this.arm(n.id));
      }
      if (t.el.parentElement !== host) host.append(t.el);
    }
  }

  private arm(id: number): void {
    const t = this.shown.get(id);
    if (!t || t.timer) return;
    t.since = Date.now();
    t.timer = setTimeout(() => this.store.dispatch({ event: "app/dismiss", id }), Math.max(500, t.left));
  }

  private pause(id: number): void {
    const t = this.shown.get(id);
    if (!t || !t.timer) return;
    clearTimeout(t.timer);
    t.timer = null;
    t.left -= Date.now() - t.since;
  }

  private build(n: Notice): HTMLElement {
    const close = h("button", { type: "button", class: "icon-btn small", "aria-label": "Dismiss notification" }, icon("close"));
    close.addEventListener("click", () => this.store.dispatch({ event: "app/dismiss", id: n.id }));
    return h(
      "div",
      { class: "toast", role: "status", "data-kind": n.kind, "data-code": n.code ?? false },
      h("span", { class: "toast-icon" }, icon(n.kind === "info" ? "info" : "alert")),
      h(
        "div",
        { class: "toast-text" },
        h("strong", {}, n.title),
        n.detail ? h("span", { class: "toast-detail" }, n.detail) : null,
        n.code !== null ? h("span", { class: "toast-code" }, `Code ${n.code}`) : null,
      ),
      close,
    );
  }
}
