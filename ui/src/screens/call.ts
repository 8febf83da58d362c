// The call screen: stage, controls bar, side panel, banners, dialogs and
// keyboard shortcuts. State comes from the store; actions go to the session.

import type { CallState, CallStore } from "../state.js";
import { headCount, isReconnecting } from "../state.js";
import type { CallSession } from "../session.js";
import type { Devices } from "../devices.js";
import type { Settings } from "../types.js";
import { describeError } from "../errors.js";
import { pinIndex, SHORTCUT_HELP, shortcutFor, SHORTCUT_KEYS, type ShortcutAction } from "../shortcuts.js";
import { $, h, isControl, isTextField, setIcon, setText } from "../ui/dom.js";
import { closeTopPopover } from "../ui/popover.js";
import { Grid, type LayoutChoice } from "../call/grid.js";
import { SidePanel, type InviteInfo } from "../call/panel.js";
import { StatsPopover } from "../call/stats.js";
import { DeviceMenu } from "../call/device-menu.js";
import type { Diagnostics } from "../types.js";
import type { SoundLevels } from "../levels.js";
import { renderButtonLevel } from "../ui/meter.js";
import type { ShareController } from "../share.js";
import { SharePicker } from "../call/share-picker.js";
import { ShareBar } from "../call/share-bar.js";

export interface CallDeps {
  store: CallStore;
  session: CallSession;
  devices: Devices;
  settings: () => Settings;
  diagnostics: () => Promise<Diagnostics | null>;
  version: () => string;
  onTileCreated: (video: HTMLElement, tileId: string) => void;
  /** Sound levels: the mic button's bars, the speaking ring (through the store), the "You're muted" hint. */
  levels: SoundLevels;
  /** Our screen share: the Share button, the picker and the sharing bar drive it. */
  share: ShareController;
}

export class CallScreen {
  readonly root: HTMLElement;
  private grid: Grid;
  private panel: SidePanel;
  private stats = new StatsPopover();
  private micMenu: DeviceMenu;
  private camMenu: DeviceMenu;
  private sharePicker: SharePicker;
  private shareBar: ShareBar;
  private pttActive = false;
  private startedAt: number | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private leaving = false;
  private readonly el: Record<string, HTMLElement>;

  constructor(private d: CallDeps) {
    this.root = $('[data-screen="call"]');
    const q = (s: string): HTMLElement => $(s, this.root);
    this.el = {
      room: q("#room-name"),
      clock: q("#call-timer"),
      hosting: q("#hosting-badge"),
      banner: q("#reconnecting-banner"),
      bannerText: q("#reconnecting-text"),
      mic: q("#toggle-mic"),
      cam: q("#toggle-camera"),
      chat: q("#toggle-chat"),
      chatBadge: q("#chat-badge"),
      people: q("#toggle-people"),
      peopleCount: q("#people-count"),
      info: q("#toggle-info"),
      layout: q("#toggle-layout"),
      share: q("#toggle-share"),
      leave: q("#leave"),
      leaveDialog: q("#leave-dialog"),
      failedDialog: q("#failed-dialog"),
      failedTitle: q("#failed-title"),
      failedDetail: q("#failed-detail"),
      helpDialog: q("#help-dialog"),
      mutedHint: q("#muted-hint"),
    };
    this.grid = new Grid(q("#stage"), {
      onTileCreated: d.onTileCreated,
      onStats: (anchor, key) => this.stats.toggle(anchor, key, d.store.state),
      onInvite: () => this.panel.open("info"),
      onLayout: (layout) => this.renderLayout(layout),
    });
    this.panel = new SidePanel(this.root, d.store, d.session, d.diagnostics, d.version);
    const live = (): boolean => d.session.engine !== null;
    this.micMenu = new DeviceMenu("audio", d.devices, d.settings, live);
    this.camMenu = new DeviceMenu("video", d.devices, d.settings, live);
    this.sharePicker = new SharePicker(this.root, (id, hint) => d.share.start(id, hint));
    this.shareBar = new ShareBar(q(".call-body"), () => void d.share.stop(), SHORTCUT_KEYS["toggle-share"]);

    this.el.mic!.addEventListener("click", () => this.run("toggle-mic"));
    this.el.cam!.addEventListener("click", () => this.run("toggle-camera"));
    q("#mic-menu").addEventListener("click", (e) => this.micMenu.toggle(e.currentTarget as HTMLElement));
    q("#camera-menu").addEventListener("click", (e) => this.camMenu.toggle(e.currentTarget as HTMLElement));
    this.el.chat!.addEventListener("click", () => this.run("toggle-chat"));
    this.el.people!.addEventListener("click", () => this.run("toggle-people"));
    this.el.info!.addEventListener("click", () => this.panel.toggle("info"));
    this.el.layout!.addEventListener("click", () => this.run("toggle-layout"));
    this.el.share!.addEventListener("click", () => this.run("toggle-share"));
    q("#open-invite").addEventListener("click", () => this.panel.open("info"));
    q("#show-help").addEventListener("click", () => this.run("help"));
    this.el.leave!.addEventListener("click", () => this.askLeave());
    q("#confirm-leave").addEventListener("click", () => {
      (this.el.leaveDialog as HTMLDialogElement).close();
      void this.leave();
    });
    q("#cancel-leave").addEventListener("click", () => (this.el.leaveDialog as HTMLDialogElement).close());
    q("#rejoin").addEventListener("click", () => void d.session.rejoin());
    q("#failed-home").addEventListener("click", () => void this.leave());
    q("#close-help").addEventListener("click", () => (this.el.helpDialog as HTMLDialogElement).close());
    // The failure dialog needs an answer: Esc does not dismiss it.
    this.el.failedDialog!.addEventListener("cancel", (e) => e.preventDefault());

    document.addEventListener("keydown", (e) => this.onKey(e));
    document.addEventListener("keyup", (e) => this.onKey(e));
    window.addEventListener("blur", () => {
      if (this.pttActive) this.run("ptt-up");
    });
    d.store.subscribe((s) => {
      if (!this.root.hidden) this.render(s);
    });
    this.applyShortcutLabels();
    this.renderLayout(this.grid.layoutName);
    this.renderHelp();
    d.levels.onCapturedLevel((level) => {
      if (!this.root.hidden) renderButtonLevel(this.el.mic!, d.store.state.local.mic ? level : 0);
    });
    d.levels.onAvailable((ok) => this.el.mic!.toggleAttribute("data-no-level", !ok));
    d.levels.onHint((show) => this.renderMutedHint(show && !this.root.hidden));
  }

  /**
   * "You're muted. Press M to unmute" beside the mic button, in the controls
   * bar (never over video). It goes when the mic is turned on, or by itself
   * after a few seconds (speaking.ts), so it needs no close button.
   */
  private renderMutedHint(show: boolean): void {
    const box = this.el.mutedHint!;
    if (!show) {
      if (box.hasAttribute("data-shown")) {
        box.removeAttribute("data-shown");
        box.replaceChildren();
      }
      return;
    }
    if (box.hasAttribute("data-shown")) return;
    const key = SHORTCUT_KEYS["toggle-mic"].split(" or ")[0]!;
    const unmute = h("button", { type: "button", class: "btn primary small" }, "Unmute");
    unmute.addEventListener("click", () => this.run("toggle-mic"));
    box.setAttribute("data-shown", "");
    box.replaceChildren(
      h("p", { class: "muted-hint-text" }, "You're muted. Press ", h("kbd", {}, key), " to unmute"),
      unmute,
    );
  }

  /**
   * The Layout button (a two-state toggle: pressed = speaker view) and
   * `.call[data-layout]`. Its label names the action and the key; aria-pressed the state.
   */
  private renderLayout(layout: LayoutChoice): void {
    const b = this.el.layout!;
    const speaker = layout === "speaker";
    this.root.dataset.layout = layout;
    b.setAttribute("aria-pressed", String(speaker));
    b.dataset.state = speaker ? "on" : "off";
    b.setAttribute("aria-label", `Speaker view (${SHORTCUT_KEYS["toggle-layout"]})`);
    b.title = `${speaker ? "Speaker view is on: switch to grid" : "Switch to speaker view"} (${SHORTCUT_KEYS["toggle-layout"]})`;
    setIcon(b, speaker ? "focus" : "grid");
  }

  private renderHelp(): void {
    const dl = $(".shortcuts", this.el.helpDialog!);
    dl.replaceChildren(
      ...SHORTCUT_HELP.flatMap((row) => {
        const dt = h("dt", {});
        if (row.hold) dt.append("Hold ");
        row.combos.forEach((combo, i) => {
          if (i > 0) dt.append(" or ");
          combo.forEach((k, j) => {
            if (j > 0) dt.append("+");
            dt.append(h("kbd", {}, k));
          });
        });
        return [dt, h("dd", {}, row.what)];
      }),
    );
  }

  get visible(): boolean {
    return !this.root.hidden;
  }

  show(invite: InviteInfo | null): void {
    this.leaving = false;
    this.root.hidden = false;
    this.startedAt = null;
    this.panel.setInvite(invite);
    // Diagnostics are in the DOM from the start (the Info tab refreshes them while open).
    void this.panel.refreshDiagnostics();
    setText(this.el.room!, this.d.store.state.room_id);
    this.el.hosting!.hidden = !this.d.session.hosting;
    this.timer = setInterval(() => this.tick(), 1000);
    // The mic button's level bars and the speaking ring; again once connected (the engine may be new).
    this.d.levels.acquire("call");
    this.render(this.d.store.state);
    // The host alone in a new call most likely wants to invite someone first.
    if (this.d.session.hosting) this.panel.open("info");
    else this.el.mic!.focus();
  }

  hide(): void {
    this.root.hidden = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.grid.clear();
    this.panel.setInvite(null);
    this.d.levels.release("call");
    this.renderMutedHint(false);
    renderButtonLevel(this.el.mic!, 0);
    for (const id of ["leaveDialog", "failedDialog", "helpDialog"] as const) {
      const dlg = this.el[id] as HTMLDialogElement;
      if (dlg.open) dlg.close();
    }
    this.sharePicker.close();
    this.stats.popover.close(false);
    this.micMenu.popover.close(false);
    this.camMenu.popover.close(false);
  }

  private tick(): void {
    if (this.startedAt === null) {
      setText(this.el.clock!, "");
      return;
    }
    const secs = Math.floor((Date.now() - this.startedAt) / 1000);
    const hh = Math.floor(secs / 3600);
    const mm = Math.floor((secs % 3600) / 60);
    const ss = secs % 60;
    const two = (n: number): string => String(n).padStart(2, "0");
    setText(this.el.clock!, hh ? `${hh}:${two(mm)}:${two(ss)}` : `${two(mm)}:${two(ss)}`);
  }

  render(s: CallState): void {
    if (s.phase === "in-call" && this.startedAt === null) {
      this.startedAt = Date.now();
      this.d.levels.acquire("call");
    }
    this.tick();
    this.grid.render(s);
    this.panel.render(s);
    this.stats.update(s);

    // Banner: joining, or reconnecting after a network cut (non-modal, UX.md §4).
    const reconnecting = isReconnecting(s);
    const joining = s.phase === "joining";
    this.el.banner!.hidden = !(reconnecting || joining);
    setText(
      this.el.bannerText!,
      reconnecting ? "Reconnecting… your call continues when the network is back." : "Joining the call…",
    );
    this.el.banner!.dataset.kind = reconnecting ? "reconnecting" : "joining";

    // Controls.
    this.toggleButton(this.el.mic!, s.local.mic, "microphone", SHORTCUT_KEYS["toggle-mic"], "mic", "micOff");
    this.toggleButton(this.el.cam!, s.local.camera, "camera", SHORTCUT_KEYS["toggle-camera"], "camera", "cameraOff");
    this.el.chat!.setAttribute("aria-pressed", String(s.panel === "chat"));
    this.el.people!.setAttribute("aria-pressed", String(s.panel === "people"));
    this.el.info!.setAttribute("aria-pressed", String(s.panel === "info"));
    this.renderShare(s);
    this.el.chatBadge!.hidden = s.unread === 0;
    setText(this.el.chatBadge!, s.unread > 99 ? "99+" : String(s.unread));
    this.el.chat!.setAttribute(
      "aria-label",
      `Chat (${SHORTCUT_KEYS["toggle-chat"]})${s.unread ? `, ${s.unread} unread message${s.unread === 1 ? "" : "s"}` : ""}`,
    );
    const n = headCount(s);
    setText(this.el.peopleCount!, String(n));
    this.el.people!.setAttribute("aria-label", `People (${SHORTCUT_KEYS["toggle-people"]}), ${n} in the call`);

    // Failure dialog (login refused, kicked out, reconnect gave up).
    const failed = this.el.failedDialog as HTMLDialogElement;
    if (s.phase === "failed" && !this.leaving) {
      const t = describeError(s.room.error_code, this.lastErrorText(s));
      setText(this.el.failedTitle!, t.title);
      setText(this.el.failedDetail!, s.room.error_code ? `${t.detail} (code ${s.room.error_code})` : t.detail);
      if (!failed.open) failed.showModal();
    } else if (failed.open) failed.close();
  }

  /** The Share button (pressed while we share: a click stops) and the "You are sharing" bar. */
  private renderShare(s: CallState): void {
    const b = this.el.share!;
    const sharing = s.share !== null;
    b.setAttribute("aria-pressed", String(sharing));
    b.dataset.state = sharing ? "on" : "off";
    const label = `${sharing ? "Stop sharing your screen" : "Share your screen"} (${SHORTCUT_KEYS["toggle-share"]})`;
    b.setAttribute("aria-label", label);
    b.title = label;
    this.shareBar.render(s.share);
  }

  private lastErrorText(s: CallState): string {
    const n = [...s.notices].reverse().find((x) => x.code === s.room.error_code);
    return n?.detail ?? "";
  }

  private toggleButton(b: HTMLElement, on: boolean, what: string, keys: string, onIcon: "mic" | "camera", offIcon: "micOff" | "cameraOff"): void {
    b.setAttribute("aria-pressed", String(on));
    b.dataset.state = on ? "on" : "off";
    const label = `Turn ${on ? "off" : "on"} ${what} (${keys})`;
    b.setAttribute("aria-label", label);
    b.title = label;
    setIcon(b, on ? onIcon : offIcon);
  }

  private applyShortcutLabels(): void {
    const set = (el: HTMLElement, text: string): void => {
      el.setAttribute("aria-label", text);
      el.title = text;
    };
    set(this.el.chat!, `Chat (${SHORTCUT_KEYS["toggle-chat"]})`);
    set(this.el.people!, `People (${SHORTCUT_KEYS["toggle-people"]})`);
    set($("#show-help", this.root), `Keyboard shortcuts (${SHORTCUT_KEYS.help})`);
  }

  private askLeave(): void {
    if (this.d.session.hosting) (this.el.leaveDialog as HTMLDialogElement).showModal();
    else void this.leave();
  }

  private async leave(): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    const failed = this.el.failedDialog as HTMLDialogElement;
    if (failed.open) failed.close();
    await this.d.session.leave("user");
  }

  private anyDialogOpen(): boolean {
    return this.sharePicker.isOpen || [this.el.leaveDialog, this.el.failedDialog, this.el.helpDialog].some((x) => (x as HTMLDialogElement).open);
  }

  private onKey(e: KeyboardEvent): void {
    if (this.root.hidden) return;
    const action = shortcutFor(
      {
        type: e.type === "keyup" ? "keyup" : "keydown",
        key: e.key,
        code: e.code,
        ctrl: e.ctrlKey,
        meta: e.metaKey,
        alt: e.altKey,
        shift: e.shiftKey,
        repeat: e.repeat,
        inTextField: isTextField(document.activeElement),
        onControl: isControl(document.activeElement),
      },
      { micMuted: !this.d.store.state.local.mic, pttActive: this.pttActive },
    );
    if (!action) return;
    if (action === "escape") {
      // Dialogs handle Esc themselves.
      if (this.anyDialogOpen()) return;
      if (closeTopPopover()) {
        e.preventDefault();
        return;
      }
      if (isTextField(document.activeElement)) {
        (document.activeElement as HTMLElement).blur();
        return;
      }
      if (this.d.store.state.panel) this.panel.close();
      return;
    }
    if (this.anyDialogOpen() && action !== "ptt-up") return;
    e.preventDefault();
    this.run(action);
  }

  run(action: ShortcutAction): void {
    const s = this.d.store.state;
    switch (action) {
      case "toggle-mic":
        this.pttActive = false;
        void this.d.session.setMic(!s.local.mic);
        break;
      case "toggle-camera":
        void this.d.session.setCamera(!s.local.camera);
        break;
      case "toggle-chat":
        this.panel.toggle("chat");
        break;
      case "toggle-people":
        this.panel.toggle("people");
        break;
      case "help": {
        const dlg = this.el.helpDialog as HTMLDialogElement;
        if (!dlg.open) dlg.showModal();
        break;
      }
      case "ptt-down":
        this.pttActive = true;
        void this.d.session.setMic(true);
        break;
      case "ptt-up":
        if (!this.pttActive) break;
        this.pttActive = false;
        void this.d.session.setMic(false);
        break;
      case "page-prev":
        this.grid.turnPage(-1);
        break;
      case "page-next":
        this.grid.turnPage(1);
        break;
      case "toggle-layout":
        this.grid.toggleLayout();
        break;
      case "toggle-share":
        if (this.d.share.sharing) void this.d.share.stop();
        else if (s.phase === "in-call") void this.sharePicker.open(() => this.d.share.sources(), this.el.share!);
        break;
      case "escape":
        break;
      default: {
        const n = pinIndex(action);
        if (n !== null) this.grid.pinByIndex(n);
      }
    }
  }
}
