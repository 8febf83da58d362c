// The share picker (UX.md §2, §6): a modal dialog listing screens and
// windows as one listbox (arrow keys, Home/End, Enter shares, double-click
// shares), a text / motion choice, Cancel and Share. The dialog is modal
// (`showModal`: the rest of the page is inert; Tab wraps inside it), Esc
// closes it and focus goes back to the Share button. `data-modal` hides the
// native video surfaces while it is open (they would cover it: UX.md §7).
// The app's own windows are never listed (the app leaves them out). Each
// card shows the source's thumbnail, or an icon when it has none.

import type { ShareHint, ShareSource } from "../generated/app.js";
import { h, icon, setText } from "../ui/dom.js";

/** The listbox's keys: the next selected index among `count` options laid out `columns` wide, or null for other keys. */
export function moveSelection(index: number, count: number, key: string, columns: number): number | null {
  if (count <= 0) return null;
  const cols = Math.max(1, Math.floor(columns));
  const clamp = (i: number): number => Math.min(count - 1, Math.max(0, i));
  switch (key) {
    case "ArrowLeft":
      return clamp(index - 1);
    case "ArrowRight":
      return clamp(index + 1);
    case "ArrowUp":
      return clamp(index - cols);
    case "ArrowDown":
      return clamp(index + cols);
    case "Home":
      return 0;
    case "End":
      return count - 1;
    default:
      return null;
  }
}

/** Screens first, then windows (each in the app's order), as the picker groups them. */
export function groupSources(sources: readonly ShareSource[]): { screens: ShareSource[]; windows: ShareSource[] } {
  return { screens: sources.filter((s) => s.kind === "screen"), windows: sources.filter((s) => s.kind === "window") };
}

export class SharePicker {
  readonly dialog: HTMLDialogElement;
  private readonly list: HTMLElement;
  private readonly status: HTMLElement;
  private readonly warning: HTMLElement;
  private readonly shareBtn: HTMLButtonElement;
  private options: { el: HTMLElement; source: ShareSource }[] = [];
  private selected = -1;
  private returnFocus: HTMLElement | null = null;
  private starting = false;

  constructor(
    host: HTMLElement,
    private onShare: (source_id: string, hint: ShareHint) => Promise<boolean>,
  ) {
    const close = h("button", { type: "button", class: "icon-btn", "aria-label": "Close (Esc)", title: "Close (Esc)" }, icon("close"));
    close.addEventListener("click", () => this.close());
    this.status = h("p", { class: "share-status muted", role: "status", id: "share-status" });
    this.list = h("div", { class: "share-sources", id: "share-sources", role: "listbox", "aria-label": "Screens and windows", "aria-describedby": "share-status" });
    this.list.addEventListener("keydown", (e) => this.onListKey(e));
    this.warning = h("p", { class: "share-warning", id: "share-warning", hidden: true }, icon("alert"),
      h("span", {}, "The Confer window is on this screen: others will see it too. Share a window to keep it out."));
    const hint = h(
      "fieldset",
      { class: "share-hint" },
      h("legend", {}, "Optimise for"),
      radio("text", "Text and images", "sharp, 5 frames a second", true),
      radio("motion", "Motion and video", "smooth, 30 frames a second", false),
    );
    const cancel = h("button", { type: "button", class: "btn secondary", id: "share-cancel" }, "Cancel");
    cancel.addEventListener("click", () => this.close());
    this.shareBtn = h("button", { type: "button", class: "btn primary", id: "share-start", disabled: true }, "Share") as HTMLButtonElement;
    this.shareBtn.addEventListener("click", () => void this.share());
    this.dialog = h(
      "dialog",
      { class: "dialog share-dialog", id: "share-dialog", "data-modal": true, "aria-labelledby": "share-title" },
      h("div", { class: "dialog-head" }, h("h2", { id: "share-title" }, "Share your screen"), close),
      this.status,
      this.list,
      this.warning,
      h("div", { class: "share-foot" }, hint, h("div", { class: "dialog-actions" }, cancel, this.shareBtn)),
    ) as HTMLDialogElement;
    this.dialog.addEventListener("keydown", (e) => this.trapTab(e));
    this.dialog.addEventListener("close", () => this.afterClose());
    host.append(this.dialog);
  }

  get isOpen(): boolean {
    return this.dialog.open;
  }

  /** Opens the picker and fills it from `load` (null: listing failed, already reported). */
  async open(load: () => Promise<ShareSource[] | null>, returnFocus: HTMLElement | null): Promise<void> {
    if (this.dialog.open) return;
    this.returnFocus = returnFocus;
    this.fill([]);
    setText(this.status, "Looking for screens and windows…");
    this.dialog.showModal();
    const sources = await load();
    if (!this.dialog.open) return;
    this.fill(sources ?? []);
    setText(
      this.status,
      sources === null ? "Screens and windows could not be listed." : sources.length === 0 ? "There is nothing to share." : "Choose a screen or a window. Others see it until you stop.",
    );
    this.options[this.selected]?.el.focus();
  }

  close(): void {
    if (this.dialog.open) this.dialog.close();
  }

  private afterClose(): void {
    this.starting = false;
    this.returnFocus?.focus();
    this.returnFocus = null;
  }

  private fill(sources: ShareSource[]): void {
    const { screens, windows } = groupSources(sources);
    this.options = [];
    const group = (label: string, items: ShareSource[]): HTMLElement | null => {
      if (items.length === 0) return null;
      const id = `share-group-${label.toLowerCase()}`;
      return h("div", { role: "group", class: "share-group", "aria-labelledby": id },
        h("h3", { class: "menu-title", id }, label),
        h("div", { class: "share-cards" }, ...items.map((s) => this.option(s))));
    };
    this.list.replaceChildren(...[group("Screens", screens), group("Windows", windows)].filter((x): x is HTMLElement => x !== null));
    this.select(this.options.length ? 0 : -1);
  }

  private option(source: ShareSource): HTMLElement {
    const index = this.options.length;
    const el = h(
      "div",
      { class: "share-card", role: "option", id: `share-src-${source.id.replace(":", "-")}`, "data-source-id": source.id, "data-kind": source.kind, "aria-selected": "false", tabindex: "-1" },
      h("div", { class: "share-thumb", "aria-hidden": "true" }, thumbnail(source)),
      h("span", { class: "share-name", title: source.name }, source.name),
      h("span", { class: "share-size muted" }, `${source.width} × ${source.height}`),
    );
    el.addEventListener("click", () => this.select(index));
    el.addEventListener("dblclick", () => {
      this.select(index);
      void this.share();
    });
    this.options.push({ el, source });
    return el;
  }

  private select(index: number): void {
    this.selected = index;
    this.options.forEach((o, i) => {
      o.el.setAttribute("aria-selected", String(i === index));
      o.el.tabIndex = i === index ? 0 : -1;
    });
    const chosen = this.options[index];
    this.shareBtn.disabled = !chosen || this.starting;
    this.warning.hidden = chosen?.source.kind !== "screen";
    if (chosen) this.list.setAttribute("aria-activedescendant", chosen.el.id);
    else this.list.removeAttribute("aria-activedescendant");
  }

  private onListKey(e: KeyboardEvent): void {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      void this.share();
      return;
    }
    const next = moveSelection(this.selected, this.options.length, e.key, this.columns());
    if (next === null) return;
    e.preventDefault();
    this.select(next);
    this.options[next]?.el.focus();
  }

  /** Cards per row as laid out now (for Up/Down). */
  private columns(): number {
    const tops = this.options.map((o) => o.el.getBoundingClientRect().top);
    const first = tops[0];
    return Math.max(1, tops.filter((t) => t === first).length);
  }

  /** Tab and Shift+Tab wrap inside the dialog. */
  private trapTab(e: KeyboardEvent): void {
    if (e.key !== "Tab") return;
    const focusable = [...this.dialog.querySelectorAll<HTMLElement>("button:not([disabled]), input:not([disabled]), [tabindex='0']")].filter(
      (el) => el.getClientRects().length > 0,
    );
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (!first || !last) return;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  }

  private async share(): Promise<void> {
    const chosen = this.options[this.selected];
    if (!chosen || this.starting) return;
    const hint = (this.dialog.querySelector<HTMLInputElement>('input[name="share-hint"]:checked')?.value ?? "text") as ShareHint;
    this.starting = true;
    this.shareBtn.disabled = true;
    setText(this.status, `Starting to share "${chosen.source.name}"…`);
    const ok = await this.onShare(chosen.source.id, hint);
    this.starting = false;
    if (ok) this.close();
    else {
      this.shareBtn.disabled = false;
      setText(this.status, "Sharing did not start. Choose again or cancel.");
    }
  }
}

function radio(value: ShareHint, label: string, detail: string, checked: boolean): HTMLElement {
  return h(
    "label",
    { class: "share-hint-option" },
    h("input", { type: "radio", name: "share-hint", value, checked }),
    h("span", {}, h("strong", {}, label), h("span", { class: "muted" }, ` (${detail})`)),
  );
}

/** The card's picture: the thumbnail (a data URL from the app), else a screen or window icon. */
function thumbnail(source: ShareSource): Element {
  if (source.thumbnail?.startsWith("data:image/")) return h("img", { src: source.thumbnail, alt: "" });
  return icon(source.kind === "screen" ? "share" : "window");
}
