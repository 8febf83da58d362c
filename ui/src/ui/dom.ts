// A few DOM helpers. User text always goes through textContent, never innerHTML.

import { icons, type IconName } from "./icons.js";

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

/** Creates an element: attributes (false/null/undefined skip; true = empty attribute), then children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c);
  }
  return el;
}

/** An icon element from the built-in set (static markup, no user data). */
export function icon(name: IconName): Element {
  const t = document.createElement("template");
  t.innerHTML = icons[name];
  return t.content.firstElementChild!;
}

/** Replaces the icon inside `el` (the first `svg.icon`), if it changed. */
export function setIcon(el: Element, name: IconName): void {
  if (el.getAttribute("data-icon") === name) return;
  el.setAttribute("data-icon", name);
  const old = el.querySelector("svg.icon");
  const fresh = icon(name);
  if (old) old.replaceWith(fresh);
  else el.prepend(fresh);
}

export function $(selector: string, root: ParentNode = document): HTMLElement {
  const el = root.querySelector<HTMLElement>(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function toggleAttr(el: Element, name: string, on: boolean, value = ""): void {
  if (on) {
    if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  } else if (el.hasAttribute(name)) el.removeAttribute(name);
}

/** Whether the focus is somewhere typing happens (shortcut letters are ignored there). */
export function isTextField(el: Element | null): boolean {
  if (!el) return false;
  if (el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement) return true;
  if (el instanceof HTMLInputElement) {
    return !["button", "checkbox", "radio", "range", "submit", "reset", "color", "file"].includes(el.type);
  }
  return (el as HTMLElement).isContentEditable === true;
}

/** Whether the focus is on something Space activates (button, link, summary, checkbox). */
export function isControl(el: Element | null): boolean {
  if (!el || el === document.body) return false;
  if (el instanceof HTMLButtonElement || el instanceof HTMLAnchorElement || el.tagName === "SUMMARY") return true;
  if (el instanceof HTMLInputElement) return ["button", "checkbox", "radio", "submit", "reset"].includes(el.type);
  const role = el.getAttribute("role");
  return role === "button" || role === "option" || role === "tab" || role === "menuitem";
}

/** Copies text; falls back to a hidden textarea where the async clipboard is unavailable. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h("textarea", { class: "sr-only", "aria-hidden": "true" });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

/** A copy button: copies `get()` and says "Copied" for a moment. */
export function copyButton(label: string, get: () => string): HTMLButtonElement {
  const b = h("button", { type: "button", class: "icon-btn small copy-btn", "aria-label": `Copy ${label}`, title: `Copy ${label}` }, icon("copy"));
  b.addEventListener("click", async () => {
    const ok = await copyText(get());
    setIcon(b, ok ? "check" : "alert");
    b.setAttribute("aria-label", ok ? `${label} copied` : `Could not copy ${label}`);
    setTimeout(() => {
      setIcon(b, "copy");
      b.setAttribute("aria-label", `Copy ${label}`);
    }, 1500);
  });
  return b;
}

/**
 * Resolves once the current DOM has been through a frame (two animation
 * frames), or after `timeoutMs` when frames do not come (a hidden window).
 * Heavy work (engine creation, GPU setup) waits for it so the screen paints first.
 */
export function afterPaint(timeoutMs = 400): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        clearTimeout(timer);
        resolve();
      }),
    );
  });
}
