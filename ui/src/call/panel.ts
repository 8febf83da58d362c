// The side panel (about 320 px, shrinks the stage): Chat, People and Info tabs.
// Info holds the invite box `#invite` and the diagnostics `#diagnostics`.

import type { CallState, CallStore, Panel } from "../state.js";
import { people } from "../state.js";
import type { CallSession } from "../session.js";
import type { Diagnostics, HostInvite, HostScope, ReachabilityCheck } from "../types.js";
import { checkMessage, formatClock, groupMessages, MAX_MESSAGE_BYTES } from "../chat.js";
import { expiryText } from "../invite.js";
import { elapsedText, forwardText, reachReport, reachSummary, STEP_LABELS } from "../reachability.js";
import { describeError } from "../errors.js";
import { normaliseError } from "../tauri.js";
import { hueFor, initials } from "../names.js";
import { $, copyButton, copyText, h, icon, setText } from "../ui/dom.js";

/** What the Info tab's invite box shows (the host's, or the link a guest joined with). */
export interface InviteInfo {
  /** The address others use (the first advertised one). */
  server: string;
  addresses: string[];
  app_id: number;
  room: string;
  /** The server certificate's fingerprint ("AB:CD:…"); null without TLS. */
  fingerprint: string | null;
  /** The host's minted invite (`host_invite`); for a guest, their own link's token and expiry with `link` rebuilt. */
  invite: HostInvite | null;
  /** Why minting the invite failed (host), shown with "Try again". */
  invite_error?: string;
  debug_page_url: string | null;
  /** Set for the host: the ports to forward and the chosen scope (the Reachability section). */
  host?: { scope: HostScope; forward: { tcp: number; udp: number | null } };
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
  private readonly reachBox: HTMLElement;
  private inviteInfo: InviteInfo | null = null;
  /** Bumped on every setInvite/leave: answers for an older call are dropped. */
  private inviteSeq = 0;
  private expiryTimer: ReturnType<typeof setInterval> | null = null;
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
    this.reachBox = $("#reachability", root);
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
    this.inviteSeq++;
    this.inviteInfo = info;
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.expiryTimer = null;
    this.renderInvite();
    this.renderReachability(info?.host ? "idle" : "none");
    // Keep "Expires in …" current while the call lasts.
    if (info?.invite) this.expiryTimer = setInterval(() => this.renderExpiry(), 30_000);
  }

  /** The host mints a fresh link (same room, fresh expiry); earlier links keep working until they expire. */
  private async newLink(button: HTMLButtonElement | null): Promise<void> {
    const info = this.inviteInfo;
    if (!info?.host) return;
    const seq = this.inviteSeq;
    if (button) {
      button.disabled = true;
      setText(button.querySelector(".label") ?? button, "Making a link…");
    }
    let next: InviteInfo;
    try {
      next = { ...info, invite: await this.session.hostInvite(info.room), invite_error: "" };
    } catch (e) {
      const err = normaliseError(e);
      next = { ...info, invite_error: `${err.message} (code ${err.code})` };
    }
    if (seq !== this.inviteSeq) return;
    this.inviteInfo = next;
    this.renderInvite(next.invite_error ? undefined : "New link ready. Earlier links keep working until they expire.");
    if (next.invite && !this.expiryTimer) this.expiryTimer = setInterval(() => this.renderExpiry(), 30_000);
    this.inviteBox.querySelector<HTMLElement>(next.invite_error ? "#retry-invite" : "#copy-invite")?.focus();
  }

  private renderExpiry(): void {
    const el = this.inviteBox.querySelector("#invite-expiry");
    const inv = this.inviteInfo?.invite;
    if (el && inv) setText(el, `${expiryText(inv.expires_at)}.`);
  }

  private renderInvite(announce?: string): void {
    const box = this.inviteBox;
    const info = this.inviteInfo;
    for (const a of ["data-server", "data-app-id", "data-room", "data-token", "data-fingerprint", "data-expires-at"]) box.removeAttribute(a);
    if (!info) {
      box.replaceChildren();
      return;
    }
    box.dataset.server = info.server;
    box.dataset.appId = String(info.app_id);
    box.dataset.room = info.room;
    box.dataset.token = info.invite?.token ?? "";
    box.dataset.fingerprint = info.fingerprint ?? "";
    if (info.invite) box.dataset.expiresAt = String(info.invite.expires_at);
    const row = (label: string, value: string, extra: Record<string, string> = {}): HTMLElement =>
      h("div", { class: "invite-row", ...extra }, h("span", { class: "invite-label" }, label), h("code", { class: "invite-value", title: value }, value), copyButton(label, () => value));
    const parts: (HTMLElement | null)[] = [h("h3", {}, "Invite people")];
    const link = info.invite?.link ?? "";
    if (link) {
      parts.push(h("p", { class: "muted" }, "Send this link. In Confer they paste it into “Invite link” and press Join."));
      const copyLabel = h("span", { class: "label" }, "Copy link");
      const copyLink = h("button", { type: "button", class: "btn primary grow", id: "copy-invite", "aria-label": "Copy invite link" }, icon("link"), copyLabel);
      copyLink.addEventListener("click", async () => {
        const ok = await copyText(link);
        setText(copyLabel, ok ? "Copied" : "Could not copy");
        copyLink.setAttribute("aria-label", ok ? "Invite link copied" : "Could not copy: select the link below");
        setTimeout(() => {
          setText(copyLabel, "Copy link");
          copyLink.setAttribute("aria-label", "Copy invite link");
        }, 2000);
      });
      const actions = h("div", { class: "invite-actions" }, copyLink);
      if (info.host) {
        const fresh = h("button", { type: "button", class: "btn secondary", id: "new-invite", title: "Make a fresh link with a new expiry" }, icon("refresh"), h("span", { class: "label" }, "New link"));
        fresh.addEventListener("click", () => void this.newLink(fresh));
        actions.append(fresh);
      }
      parts.push(
        actions,
        h("code", { class: "invite-link", id: "invite-link-text", tabindex: "0", "aria-label": "Invite link" }, link),
        h("p", { class: "muted small", id: "invite-expiry" }, `${expiryText(info.invite!.expires_at)}.`),
      );
    } else if (info.invite_error) {
      const retry = h("button", { type: "button", class: "btn secondary small", id: "retry-invite" }, "Try again");
      retry.addEventListener("click", () => void this.newLink(null));
      parts.push(h("div", { class: "invite-problem", role: "alert" }, h("p", {}, `Couldn't make an invite link: ${info.invite_error}.`), retry));
    } else {
      parts.push(h("p", { class: "muted" }, "They join with the server address and room below, and an access token or App Sign from the server's admin."));
    }
    parts.push(h("p", { class: "sr-only", role: "status", id: "invite-status" }, announce ?? ""));
    const addresses = info.addresses.length ? info.addresses : [info.server];
    parts.push(
      ...addresses.map((a, i) => row(addresses.length > 1 ? `Address ${i + 1}` : "Server address", a)),
      row("Room", info.room),
      info.fingerprint ? row("Certificate", info.fingerprint, { title: "The SHA-256 fingerprint of the server's certificate: the link carries it, so guests connect only to this server." }) : null,
      info.debug_page_url ? row("Browser page", info.debug_page_url) : null,
      info.debug_page_url ? h("p", { class: "muted small" }, "People without the app can join from a browser at this address.") : null,
    );
    box.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  // ---- reachability (host only) ----

  private renderReachability(state: "none" | "idle" | "running" | { checks: ReachabilityCheck[] } | { error: string }): void {
    const box = this.reachBox;
    const host = this.inviteInfo?.host;
    if (state === "none" || !host) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.hidden = false;
    const running = state === "running";
    const button = h("button", { type: "button", class: "btn secondary", id: "check-reachability", disabled: running, "aria-describedby": "reach-note" }, icon("pulse"), h("span", { class: "label" }, running ? "Checking…" : "Check reachability"));
    button.addEventListener("click", () => void this.runReachability());
    const parts: (HTMLElement | null)[] = [
      h("h3", { id: "reach-title" }, "Reachability"),
      h("p", { class: "muted", id: "reach-forward" }, forwardText(host.forward, host.scope)),
      h("div", { class: "reach-actions" }, button, h("span", { class: "muted small", id: "reach-note" }, "Tests your addresses the way a guest's app connects; takes a few seconds.")),
    ];
    const status = h("p", { class: "reach-summary", role: "status", id: "reach-status" });
    parts.push(status);
    if (running) {
      status.append(h("span", { class: "spinner", "aria-hidden": "true" }), "Checking…");
      box.setAttribute("aria-busy", "true");
    } else box.removeAttribute("aria-busy");
    if (typeof state === "object" && "error" in state) {
      status.dataset.kind = "error";
      status.textContent = `The check could not run: ${state.error}.`;
    }
    if (typeof state === "object" && "checks" in state) {
      const failed = state.checks.some((c) => !c.ok);
      status.dataset.kind = failed ? "error" : "ok";
      status.append(icon(failed ? "alert" : "check"), h("span", {}, reachSummary(state.checks)));
      const list = h(
        "ol",
        { class: "reach-list", "aria-labelledby": "reach-title" },
        ...state.checks.map((c) => {
          const text = describeError(c.code, "");
          return h(
            "li",
            { class: "reach-check", "data-ok": String(c.ok), "data-name": c.name },
            h("span", { class: "reach-icon", "aria-hidden": "true" }, icon(c.ok ? "check" : "close")),
            h(
              "div",
              { class: "reach-body" },
              h(
                "div",
                { class: "reach-head" },
                h("strong", { class: "reach-name" }, STEP_LABELS[c.name]),
                h("span", { class: "reach-state" }, c.ok ? "Passed" : "Failed"),
                h("span", { class: "reach-time muted" }, elapsedText(c.elapsed_ms)),
              ),
              h("p", { class: "reach-where" }, h("code", { class: "reach-target" }, c.target), c.ok && c.detail ? h("span", { class: "muted" }, ` · ${c.detail}`) : null),
              !c.ok && c.detail ? h("p", { class: "reach-detail" }, c.detail) : null,
              !c.ok && c.code ? h("p", { class: "reach-code muted small" }, `Code ${c.code}${knownText(text) ? ` · ${text.title}` : ""}`) : null,
            ),
          );
        }),
      );
      const copy = h("button", { type: "button", class: "link-btn", id: "copy-reachability" }, "Copy results");
      copy.addEventListener("click", async () => setText(copy, (await copyText(reachReport(state.checks))) ? "Results copied" : "Could not copy"));
      parts.push(list, copy);
    }
    box.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
    if (!running && typeof state === "object") box.querySelector<HTMLElement>("#check-reachability")?.focus({ preventScroll: true });
  }

  private async runReachability(): Promise<void> {
    const seq = this.inviteSeq;
    this.renderReachability("running");
    this.reachBox.querySelector<HTMLElement>("#check-reachability")?.focus({ preventScroll: true });
    let state: { checks: ReachabilityCheck[] } | { error: string };
    try {
      const r = await this.session.checkReachability();
      state = { checks: Array.isArray(r?.checks) ? r.checks : [] };
    } catch (e) {
      const err = normaliseError(e);
      state = { error: `${err.message} (code ${err.code})` };
    }
    if (seq !== this.inviteSeq) return;
    this.renderReachability(state);
    this.reachBox.querySelector("#reach-status")?.scrollIntoView({ block: "nearest" });
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

/** Whether describeError knew the code (it falls back to "Something went wrong"). */
function knownText(t: { title: string }): boolean {
  return t.title !== "Something went wrong";
}
