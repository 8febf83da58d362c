// The side panel (about 320 px, shrinks the stage): Chat, People and Info tabs.
// Info holds the invite box `#invite` and the diagnostics `#diagnostics`.

import type { CallState, CallStore, Panel } from "../state.js";
import { people } from "../state.js";
import type { CallSession } from "../session.js";
import type { Diagnostics } from "../types.js";
import { checkMessage, formatClock, groupMessages, MAX_MESSAGE_BYTES } from "../chat.js";
import { buildInvite } from "../invite.js";
import { hueFor, initials } from "../names.js";
import { $, copyButton, copyText, h, icon, setText } from "../ui/dom.js";

export interface InviteInfo {
  server: string;
  addresses: string[];
  app_id: number;
  app_sign: string;
  room: string;
  invite: string;
  debug_page_url: string | null;
}

export class SidePanel {
  private readonly el: HTMLElement;
  private readonly chatList: HTMLElement;
  private readonly chatInput: HTMLTextAreaElement;
  private readonly chatCount: HTMLElement;
  private readonly chatHint: HTMLElement;
  private readonly newMessages: HTMLButtonElement;
  private readonly peopleList: HTMLElement;
  private renderedPeople = "";
  private readonly search: HTMLInputElement;
  private readonly inviteBox: HTMLElement;
  private readonly diag: HTMLElement;
  private renderedMessages: unknown = null;
  private stickToBottom = true;
  private diagTimer: ReturnType<typeof setInterval> | null = null;
  private returnFocus: HTMLElement | null = null;

  constructor(
    root: HTMLElement,
    private store: CallStore,
    private session: CallSession,
    private diagnostics: () => Promise<Diagnostics | null>,
    private version: () => string,
  ) {
    this.el = $("#side-panel", root);
    this.chatList = $("#chat-list", root);
    this.chatInput = $("#chat-input", root) as HTMLTextAreaElement;
    this.chatCount = $("#chat-count", root);
    this.chatHint = $("#chat-hint", root);
    this.newMessages = $("#new-messages", root) as HTMLButtonElement;
    this.peopleList = $("#people-list", root);
    this.search = $("#people-search", root) as HTMLInputElement;
    this.inviteBox = $("#invite", root);
    this.diag = $("#diagnostics", root);

    for (const tab of this.el.querySelectorAll<HTMLButtonElement>("[role='tab']")) {
      tab.addEventListener("click", () => this.open(tab.dataset.panel as Panel));
    }
    $("#close-panel", root).addEventListener("click", () => this.close());
    this.el.querySelector("[role='tablist']")!.addEventListener("keydown", (e) => this.tabKeys(e as KeyboardEvent));

    // Chat: Enter sends, Shift+Enter is a new line.
    const form = $("#chat-form", root) as HTMLFormElement;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.send();
    });
    this.chatInput.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.send();
      }
    });
    this.chatInput.addEventListener("input", () => this.updateCount());
    this.chatList.addEventListener("scroll", () => {
      const l = this.chatList;
      this.stickToBottom = l.scrollHeight - l.scrollTop - l.clientHeight < 24;
      if (this.stickToBottom) this.newMessages.hidden = true;
    });
    this.newMessages.addEventListener("click", () => {
      this.stickToBottom = true;
      this.scrollChat();
      this.newMessages.hidden = true;
    });
    this.search.addEventListener("input", () => this.renderPeople(this.store.state));
    this.updateCount();
  }

  get current(): Panel | null {
    return this.store.state.panel;
  }

  open(panel: Panel): void {
    if (!this.store.state.panel) {
      const a = document.activeElement;
      this.returnFocus = a instanceof HTMLElement && !this.el.contains(a) ? a : null;
    }
    this.store.dispatch({ event: "app/panel", panel });
    if (panel === "chat") this.chatInput.focus();
    else if (panel === "people") this.search.focus();
    else this.el.querySelector<HTMLElement>(`[data-panel="${panel}"]`)?.focus();
  }

  toggle(panel: Panel): void {
    if (this.store.state.panel === panel) this.close();
    else this.open(panel);
  }

  close(): void {
    if (!this.store.state.panel) return;
    this.store.dispatch({ event: "app/panel", panel: null });
    this.returnFocus?.focus();
    this.returnFocus = null;
  }

  private tabKeys(e: KeyboardEvent): void {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const tabs = [...this.el.querySelectorAll<HTMLButtonElement>("[role='tab']")];
    const i = tabs.findIndex((t) => t.getAttribute("aria-selected") === "true");
    const j = (i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length;
    e.preventDefault();
    this.open(tabs[j]!.dataset.panel as Panel);
    tabs[j]!.focus();
  }

  render(s: CallState): void {
    const panel = s.panel;
    this.el.hidden = panel === null;
    for (const tab of this.el.querySelectorAll<HTMLButtonElement>("[role='tab']")) {
      const on = tab.dataset.panel === panel;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
    }
    for (const sec of this.el.querySelectorAll<HTMLElement>("[role='tabpanel']")) sec.hidden = sec.dataset.panel !== panel;
    if (s.messages !== this.renderedMessages) this.renderChat(s);
    this.renderPeople(s);
    if (panel === "info") this.startDiagnostics();
    else this.stopDiagnostics();
  }

  // ---- chat ----

  private updateCount(): void {
    const c = checkMessage(this.chatInput.value);
    setText(this.chatCount, `${c.bytes} / ${MAX_MESSAGE_BYTES}`);
    this.chatCount.classList.toggle("over", !c.ok && c.reason === "too-long");
  }

  private async send(): Promise<void> {
    const text = this.chatInput.value;
    const r = await this.session.sendChat(text);
    if (r === "empty") return;
    if (r === "too-long") {
      setText(this.chatHint, `Messages can be at most ${MAX_MESSAGE_BYTES} bytes. Shorten it a little.`);
      return;
    }
    if (r === "rate-limited") {
      setText(this.chatHint, "Slow down: at most 10 messages a second.");
      return;
    }
    setText(this.chatHint, "");
    this.chatInput.value = "";
    this.updateCount();
    this.stickToBottom = true;
    this.scrollChat();
  }

  private renderChat(s: CallState): void {
    const grew = Array.isArray(this.renderedMessages) && s.messages.length > (this.renderedMessages as unknown[]).length;
    this.renderedMessages = s.messages;
    if (s.messages.length === 0) {
      this.chatList.replaceChildren(h("li", { class: "chat-empty" }, "Messages are visible to everyone in the call and are not saved."));
      return;
    }
    const items = groupMessages(s.messages).map((g) =>
      h(
        "li",
        { class: "chat-group", "data-own": g.own },
        h(
          "div",
          { class: "chat-meta" },
          h("span", { class: "chat-from", style: `--hue:${hueFor(g.from_id)}` }, g.own ? "You" : g.from_name),
          h("time", { datetime: new Date(g.time_ms).toISOString() }, formatClock(g.time_ms)),
        ),
        ...g.messages.map((m) => {
          const p = h("p", { class: "chat-msg", "data-status": m.status }, m.text);
          if (m.status === "sending") p.append(h("span", { class: "chat-state" }, "Sending…"));
          if (m.status === "failed") {
            const retry = h("button", { type: "button", class: "link-btn" }, "Retry");
            retry.addEventListener("click", () => void this.session.retryChat(m.key));
            p.append(h("span", { class: "chat-state error" }, `Not sent${m.error ? ` (code ${m.error.code})` : ""} — `, retry));
          }
          return p;
        }),
      ),
    );
    this.chatList.replaceChildren(...items);
    if (this.stickToBottom) this.scrollChat();
    else if (grew) this.newMessages.hidden = false;
  }

  private scrollChat(): void {
    this.chatList.scrollTop = this.chatList.scrollHeight;
  }

  // ---- people ----

  private renderPeople(s: CallState): void {
    const rows = people(s, this.search.value);
    const tab = this.el.querySelector('[data-panel="people"] .count');
    if (tab) setText(tab, String(people(s).length));
    // Speaking changes re-render often: rebuild the list only when a row changed.
    const key = JSON.stringify(rows);
    if (key === this.renderedPeople) return;
    this.renderedPeople = key;
    if (rows.length === 0) {
      this.peopleList.replaceChildren(h("li", { class: "muted" }, "No one matches."));
      return;
    }
    this.peopleList.replaceChildren(
      ...rows.map((r) =>
        h(
          "li",
          { class: "person", "data-user-id": r.user_id, "data-speaking": r.speaking },
          h("span", { class: "avatar", style: `--hue:${hueFor(r.user_id)}`, "aria-hidden": "true" }, initials(r.name)),
          h("span", { class: "person-name" }, r.name, r.self ? h("span", { class: "muted" }, " (You)") : null),
          r.speaking ? h("span", { class: "person-speaking", role: "img", "aria-label": "Speaking", title: "Speaking" }, icon("speaking")) : null,
          deviceIcon(r.mic, "mic", "micOff", "Microphone"),
          deviceIcon(r.camera, "camera", "cameraOff", "Camera"),
        ),
      ),
    );
  }

  // ---- info ----

  setInvite(info: InviteInfo | null): void {
    const box = this.inviteBox;
    if (!info) {
      for (const a of ["data-server", "data-app-id", "data-app-sign", "data-room"]) box.removeAttribute(a);
      box.replaceChildren();
      return;
    }
    box.dataset.server = info.server;
    box.dataset.appId = String(info.app_id);
    box.dataset.appSign = info.app_sign;
    box.dataset.room = info.room;
    const link = buildInvite({ server: info.server, app_id: info.app_id, app_sign: info.app_sign, room: info.room }, info.invite);
    const row = (label: string, value: string, secret = false): HTMLElement =>
      h(
        "div",
        { class: "invite-row" },
        h("span", { class: "invite-label" }, label),
        h("code", { class: secret ? "invite-value secret" : "invite-value", title: secret ? "Hidden; use Copy" : value }, secret ? "•".repeat(16) : value),
        copyButton(label, () => value),
      );
    const copyLabel = h("span", {}, "Copy invite link");
    const copyLink = h("button", { type: "button", class: "btn primary block", id: "copy-invite" }, icon("link"), copyLabel);
    copyLink.addEventListener("click", async () => {
      const ok = await copyText(link);
      setText(copyLabel, ok ? "Invite link copied" : "Could not copy; copy the fields below");
      setTimeout(() => setText(copyLabel, "Copy invite link"), 2000);
    });
    const addresses = info.addresses.length ? info.addresses : [info.server];
    const parts: (HTMLElement | null)[] = [
      h("h3", {}, "Invite people"),
      h("p", { class: "muted" }, "Send the link. In Confer they paste it into “Invite link” and press Join."),
      copyLink,
      ...addresses.map((a, i) => row(addresses.length > 1 ? `Address ${i + 1}` : "Server address", a)),
      row("Room", info.room),
      row("App ID", String(info.app_id)),
      info.app_sign ? row("App Sign", info.app_sign, true) : null,
      info.debug_page_url ? row("Browser page", info.debug_page_url) : null,
      info.debug_page_url ? h("p", { class: "muted small" }, "People without the app can join from a browser at this address.") : null,
    ];
    box.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private startDiagnostics(): void {
    if (this.diagTimer) return;
    void this.refreshDiagnostics();
    this.diagTimer = setInterval(() => void this.refreshDiagnostics(), 3000);
  }

  private stopDiagnostics(): void {
    if (this.diagTimer) clearInterval(this.diagTimer);
    this.diagTimer = null;
  }

  async refreshDiagnostics(): Promise<void> {
    const d = await this.diagnostics();
    const path = d ? (d.render_path === "canvas" ? "Canvas (software fallback)" : d.render_path === "native-x11" ? "Native (X11)" : d.render_path) : "Unknown";
    const dl = h(
      "dl",
      { class: "stats" },
      h("dt", {}, "Video rendering"),
      h("dd", { "data-render-path": d?.render_path ?? "unknown" }, path),
      h("dt", {}, "Why"),
      h("dd", {}, d?.reason || "–"),
      h("dt", {}, "Graphics adapter"),
      h("dd", {}, d?.adapter ?? "–"),
      h("dt", {}, "Platform"),
      h("dd", {}, d?.platform ?? "–"),
      h("dt", {}, "Video surfaces"),
      h("dd", {}, d ? String(d.tiles) : "–"),
      h("dt", {}, "App version"),
      h("dd", {}, this.version() || "–"),
    );
    this.diag.replaceChildren(h("h3", {}, "Diagnostics"), dl);
  }
}

function deviceIcon(on: boolean | null, onIcon: "mic" | "camera", offIcon: "micOff" | "cameraOff", what: string): HTMLElement {
  const label = on === null ? `${what}: not publishing` : `${what} ${on ? "on" : "off"}`;
  return h("span", { class: "device-state", "data-on": on === null ? "unknown" : String(on), role: "img", "aria-label": label, title: label }, icon(on === false ? offIcon : onIcon));
}
