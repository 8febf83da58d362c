// The call stage: self view + one tile per remote stream, laid out by
// layout.ts (solo / spotlight: remote big + self view beside or under it / paged grid /
// speaker view / presenter: a shared screen on the stage, people in a strip).
// Labels sit under the video rect, never on it, and no tile overlaps another
// (native surfaces cover HTML and each other: UX.md §7).

import type { CallState, RemoteStream } from "../state.js";
import { orderedStreams } from "../state.js";
import type { StreamQualityLevel } from "../types.js";
import { clampPage, fitAspect, fitFocus, fitGrid, fitSpotlight, pageItems, stageMode, type Rect } from "../layout.js";
import { ActiveSpeaker, stableOrder } from "../stage-order.js";
import { barsFor, isPoor } from "../quality.js";
import { hueFor, initials } from "../names.js";
import { SELF_TILE, tileIdForStream } from "../session.js";
import { isShareStream } from "../names.js";
import { presentedShare, shareTookStage } from "../presenter.js";
import { ErrorCode } from "../generated/error-codes.js";
import { h, icon, setIcon, setText, toggleAttr } from "../ui/dom.js";

/** Must match app.css: `--gap`, `.tile-label` height, `.solo-note` height, `.pager` height. */
export const GAP = 12;
export const LABEL_H = 34;
const SOLO_NOTE_H = 56;
const PAGER_H = 40;

const PLACED_VARS = ["--x", "--y", "--tile-w", "--video-h", "--label-w"] as const;

/** Positions a tile absolutely in the stage's content box (spotlight, speaker view). */
function place(root: HTMLElement, r: Rect, labelWidth: number, role: "main" | "self" | "strip"): void {
  root.classList.add("placed");
  root.dataset.place = role;
  root.style.setProperty("--x", `${r.x}px`);
  root.style.setProperty("--y", `${r.y}px`);
  root.style.setProperty("--tile-w", `${r.width}px`);
  root.style.setProperty("--video-h", `${r.height}px`);
  root.style.setProperty("--label-w", `${labelWidth}px`);
}

function unplace(root: HTMLElement): void {
  if (!root.classList.contains("placed")) return;
  root.classList.remove("placed");
  delete root.dataset.place;
  for (const v of PLACED_VARS) root.style.removeProperty(v);
}

export interface TileModel {
  key: string;
  tileId: string;
  userId: string;
  streamId: string | null;
  self: boolean;
  name: string;
  micOn: boolean;
  cameraOn: boolean;
  /** The first video frame was drawn (`data-rendering` on the tile). */
  rendering: boolean;
  level: StreamQualityLevel | null;
  status: string;
  /** The speaking ring (`data-speaking`), drawn just outside the video rect. */
  speaking: boolean;
  /** Join order (self: -1). */
  joinSeq: number;
  /** A shared screen: ours (a placeholder, never our own screen: UX.md §2) or someone else's; null for people. */
  share: "own" | "remote" | null;
}

/** The tile of our own share (no video: the presenter sees "You are presenting", not their screen). */
export const OWN_SHARE_TILE = "own-share";

/** The user's choice (null: automatic, UX.md §2: 1:1 = remote big + self view, 3+ = grid). */
export type LayoutChoice = "grid" | "speaker";
/**
 * What the stage does: solo, 1:1 spotlight, paged grid, speaker view (`focus`:
 * a stage tile + a strip), or `presenter` (speaker view with a shared screen on the stage).
 */
export type StageLayoutMode = "solo" | "spotlight" | "grid" | "focus" | "presenter";

export function tileModels(s: CallState): TileModel[] {
  const models: TileModel[] = [];
  if (s.self) {
    models.push({
      key: "self",
      tileId: SELF_TILE,
      userId: s.self.user_id,
      streamId: null,
      self: true,
      name: s.self.user_name || s.self.user_id,
      micOn: s.local.mic,
      cameraOn: s.local.camera,
      rendering: s.local.camera,
      level: s.publisher.quality?.level ?? null,
      status: publisherStatus(s),
      speaking: s.speaking.self && s.local.mic,
      joinSeq: -1,
      share: null,
    });
    if (s.share) {
      models.push({
        key: OWN_SHARE_TILE,
        tileId: OWN_SHARE_TILE,
        userId: s.self.user_id,
        streamId: null,
        self: false,
        name: `Your screen: ${s.share.source.name}`,
        micOn: true,
        cameraOn: false,
        rendering: false,
        level: null,
        status: "",
        speaking: false,
        joinSeq: -0.5,
        share: "own",
      });
    }
  }
  const speaking = new Set(s.speaking.streams);
  for (const st of orderedStreams(s)) {
    const m = remoteModel(st);
    // No speaking ring on shares (UX.md §2).
    models.push({ ...m, speaking: m.share === null && speaking.has(st.stream_id) });
  }
  return models;
}

function publisherStatus(s: CallState): string {
  if (s.phase !== "in-call") return "";
  if (s.publisher.state === "PublishRequesting") return s.publisher.error_code ? "Reconnecting…" : "Connecting…";
  return "";
}

function remoteModel(st: RemoteStream): Omit<TileModel, "speaking"> {
  let status = "";
  if (st.player !== "Playing") {
    if (st.player_error === ErrorCode.StreamEnded) status = "Paused";
    else status = st.ever_played ? "Reconnecting…" : "Connecting…";
  }
  const share = isShareStream(st.stream_id);
  const name = st.user.user_name || st.user.user_id;
  return {
    key: `stream:${st.stream_id}`,
    tileId: tileIdForStream(st.stream_id),
    userId: st.user.user_id,
    streamId: st.stream_id,
    self: false,
    name: share ? `${name}'s screen` : name,
    micOn: st.mic !== "Mute",
    cameraOn: st.camera !== "Mute",
    rendering: st.first_frame,
    level: st.quality?.level ?? null,
    status,
    joinSeq: st.seq,
    share: share ? "remote" : null,
  };
}

interface TileView {
  root: HTMLElement;
  video: HTMLElement;
  avatar: HTMLElement;
  mic: HTMLElement;
  name: HTMLElement;
  status: HTMLElement;
  badge: HTMLButtonElement;
  pin: HTMLButtonElement;
}

export interface GridHooks {
  /** A tile element was created (canvas fallback attaches here). */
  onTileCreated(video: HTMLElement, tileId: string): void;
  /** The quality badge of a tile was clicked. */
  onStats(anchor: HTMLButtonElement, key: string): void;
  /** "Invite people" in the solo view. */
  onInvite(): void;
  /** The layout (grid / speaker) or the pin changed: the Layout button follows. */
  onLayout?(layout: LayoutChoice, pinned: string | null): void;
}

export class Grid {
  private views = new Map<string, TileView>();
  private page = 0;
  private pages = 1;
  private models: TileModel[] = [];
  private size = { width: 0, height: 0 };
  private readonly resize: ResizeObserver;
  private readonly grid: HTMLElement;
  private readonly pager: HTMLElement;
  private readonly solo: HTMLElement;
  /** The user's layout choice; null = automatic. */
  private choice: LayoutChoice | null = null;
  /** The pinned tile's key: it holds the stage in speaker view. */
  private pinnedKey: string | null = null;
  /** Tile keys in stable order (self first): see stage-order.ts. */
  private orderKeys: string[] = [];
  private lastSpoke = new Map<string, number>();
  private active = new ActiveSpeaker();
  private retry: ReturnType<typeof setTimeout> | null = null;
  private lastLayout: LayoutChoice | null = null;
  private lastPinned: string | null = null;
  /** The share on the stage at the last layout (a new one takes the stage). */
  private presented: string | null = null;
  /** Effective layout after the last layout() ("grid" or "speaker"). */
  layoutName: LayoutChoice = "grid";

  constructor(
    private stage: HTMLElement,
    private hooks: GridHooks,
  ) {
    this.grid = h("div", { class: "grid", id: "grid" });
    const invite = h("button", { type: "button", class: "btn secondary" }, icon("invite"), "Invite people");
    invite.addEventListener("click", () => hooks.onInvite());
    this.solo = h("div", { class: "solo-note", hidden: true }, h("span", {}, "You're the only one here"), invite);
    this.pager = h("nav", { class: "pager", "aria-label": "Pages of tiles", hidden: true });
    stage.replaceChildren(this.grid, this.solo, this.pager);
    this.resize = new ResizeObserver((entries) => {
      const r = entries[0]!.contentRect;
      this.size = { width: r.width, height: r.height };
      this.layout();
    });
    this.resize.observe(stage);
  }

  get pageCount(): number {
    return this.pages;
  }

  setPage(p: number): void {
    const next = clampPage(p, this.pages);
    if (next === this.page) return;
    this.page = next;
    this.layout();
  }

  turnPage(delta: number): void {
    this.setPage(this.page + delta);
  }

  get pinned(): string | null {
    return this.pinnedKey;
  }

  /** W / the Layout button: grid <-> speaker view. Going to grid drops the pin. */
  toggleLayout(): void {
    this.choice = this.layoutName === "speaker" ? "grid" : "speaker";
    if (this.choice === "grid") this.pinnedKey = null;
    this.page = 0;
    this.layout();
  }

  setLayout(choice: LayoutChoice | null): void {
    this.choice = choice;
    if (choice === "grid") this.pinnedKey = null;
    this.page = 0;
    this.layout();
  }

  /** Pins a tile (speaker view with it on the stage), or unpins it if it is the pinned one. */
  togglePin(key: string): void {
    if (!this.views.has(key)) return;
    if (this.pinnedKey === key) {
      this.pinnedKey = null;
    } else {
      this.pinnedKey = key;
      this.choice = "speaker";
    }
    this.page = 0;
    this.layout();
  }

  /** Keys 0-9: 0 = self, n = the n-th remote tile in tile order. */
  pinByIndex(n: number): void {
    const key = this.keyForIndex(n);
    if (key) this.togglePin(key);
  }

  private keyForIndex(n: number): string | null {
    if (n === 0) return this.models.find((m) => m.self)?.key ?? null;
    const remotes = this.sortedModels().filter((m) => !m.self);
    return remotes[n - 1]?.key ?? null;
  }

  render(s: CallState): void {
    this.models = tileModels(s);
    const keep = new Set(this.models.map((m) => m.key));
    for (const [key, v] of this.views) {
      if (!keep.has(key)) {
        v.root.remove();
        this.views.delete(key);
      }
    }
    for (const m of this.models) {
      let v = this.views.get(m.key);
      if (!v) {
        v = this.build(m);
        this.views.set(m.key, v);
      }
      this.update(v, m);
    }
    this.layout();
  }

  /** Removes every tile (leaving the call). */
  clear(): void {
    for (const v of this.views.values()) v.root.remove();
    this.views.clear();
    this.models = [];
    this.page = 0;
    this.choice = null;
    this.pinnedKey = null;
    this.presented = null;
    this.orderKeys = [];
    this.lastSpoke.clear();
    this.active.reset();
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.layout();
  }

  private build(m: TileModel): TileView {
    const avatar = h("div", { class: "tile-avatar", "aria-hidden": "true" });
    const video = h("div", { class: "tile-video", "data-tile-id": m.tileId }, avatar);
    const mic = h("span", { class: "tile-mic", role: "img" });
    const name = h("span", { class: "tile-name" });
    const status = h("span", { class: "tile-status" });
    const badge = h("button", { type: "button", class: "quality-badge", "aria-haspopup": "dialog", "aria-expanded": "false" },
      h("span", { class: "bars", "aria-hidden": "true" }, h("i"), h("i"), h("i")));
    badge.addEventListener("click", () => this.hooks.onStats(badge, m.key));
    const pin = h("button", { type: "button", class: "tile-pin", "aria-pressed": "false" }, icon("pin")) as HTMLButtonElement;
    pin.addEventListener("click", () => this.togglePin(m.key));
    const label = h("div", { class: "tile-label" }, mic, name, m.self ? h("span", { class: "tile-you" }, "You") : null, status, pin, badge);
    const root = h("div", { class: "tile", "data-user-id": m.userId }, video, label);
    // A click on the tile (not on its buttons) pins or unpins it (UX.md §2 "Pin").
    root.addEventListener("click", (e) => {
      if ((e.target as Element).closest("button")) return;
      this.togglePin(m.key);
    });
    if (m.self) root.setAttribute("data-self", "");
    if (m.streamId) root.setAttribute("data-stream-id", m.streamId);
    if (m.share) root.setAttribute("data-share", m.share);
    if (m.share === "own") video.append(ownShareNote());
    this.grid.append(root);
    this.hooks.onTileCreated(video, m.tileId);
    return { root, video, avatar, mic, name, status, badge, pin };
  }

  private update(v: TileView, m: TileModel): void {
    setText(v.name, m.name);
    setText(v.avatar, initials(m.name));
    v.avatar.style.setProperty("--hue", String(hueFor(m.userId)));
    setText(v.status, m.status);
    toggleAttr(v.root, "data-video-off", !m.cameraOn);
    toggleAttr(v.root, "data-muted", !m.micOn);
    toggleAttr(v.root, "data-rendering", m.rendering);
    toggleAttr(v.root, "data-speaking", m.speaking);
    setIcon(v.mic, m.micOn ? "mic" : "micOff");
    v.mic.setAttribute("aria-label", m.micOn ? "Microphone on" : "Microphone muted");
    const b = barsFor(m.level);
    v.badge.dataset.bars = String(b.bars);
    v.badge.dataset.tone = b.tone;
    toggleAttr(v.badge, "data-poor", isPoor(m.level));
    v.badge.setAttribute("aria-label", `${b.label} for ${m.self ? "your video" : m.name}. Show statistics`);
    v.badge.title = b.label;
  }

  /** The tiles in stable order (self, speakers, camera on, join time; pages kept stable: stage-order.ts). */
  private sortedModels(perPage = Infinity, page = 0): TileModel[] {
    const now = performance.now();
    for (const m of this.models) if (m.speaking) this.lastSpoke.set(m.key, now);
    const keys = new Set(this.models.map((m) => m.key));
    for (const k of [...this.lastSpoke.keys()]) if (!keys.has(k)) this.lastSpoke.delete(k);
    const tiles = this.models.map((m) => ({
      key: m.key,
      self: m.self,
      speaking: m.speaking,
      lastSpokeAt: this.lastSpoke.get(m.key) ?? 0,
      cameraOn: m.cameraOn,
      joinSeq: m.joinSeq,
      share: m.share !== null,
    }));
    const per = Number.isFinite(perPage) ? perPage : Math.max(1, this.models.length);
    this.orderKeys = stableOrder(this.orderKeys, tiles, per, page);
    const byKey = new Map(this.models.map((m) => [m.key, m]));
    return this.orderKeys.map((k) => byKey.get(k)!).filter(Boolean);
  }

  /** The speaker view's stage tile: the pin, else the active remote speaker (never us), else self. */
  private stageKey(): string | null {
    if (this.pinnedKey && !this.views.has(this.pinnedKey)) this.pinnedKey = null;
    if (this.pinnedKey) return this.pinnedKey;
    const remotes = this.orderKeys.filter((k) => this.models.some((m) => m.key === k && !m.self));
    const speaking = this.models.filter((m) => !m.self && m.speaking).map((m) => m.key);
    const now = performance.now();
    const r = this.active.update(remotes, speaking, now);
    if (this.retry) clearTimeout(this.retry);
    this.retry = r.retryAt !== null ? setTimeout(() => ((this.retry = null), this.layout()), Math.max(0, r.retryAt - now) + 10) : null;
    return r.key ?? this.models.find((m) => m.self)?.key ?? null;
  }

  private layout(): void {
    const { width, height } = this.size;
    const remote = this.models.filter((m) => !m.self).length;
    const self = this.models.find((m) => m.self);
    if (this.pinnedKey && !this.views.has(this.pinnedKey)) this.pinnedKey = null;
    // A new shared screen takes the stage (automatic layout again); a pin still wins.
    const share = presentedShare(this.models.filter((m) => m.share).map((m) => ({ key: m.key, own: m.share === "own", joinSeq: m.joinSeq })));
    if (shareTookStage(this.presented, share)) {
      this.choice = null;
      this.page = 0;
    }
    this.presented = share;
    // Automatic (no choice, no pin): a share = presenter, else today's rules; a pin always means speaker view.
    const auto = stageMode(remote);
    const layoutName: LayoutChoice = this.pinnedKey ? "speaker" : (this.choice ?? (share || auto === "spotlight" ? "speaker" : "grid"));
    let mode: StageLayoutMode;
    let stage: string | null = null;
    if (remote === 0 && !this.pinnedKey) mode = "solo";
    else if (layoutName === "grid") mode = remote === 0 ? "solo" : "grid";
    else if (share) {
      // Presenter: the pinned tile or the shared screen on the stage, everyone else in the strip.
      this.sortedModels();
      stage = this.pinnedKey ?? share;
      mode = "presenter";
    } else {
      this.sortedModels();
      stage = this.stageKey();
      const stageIsRemote = this.models.some((m) => m.key === stage && !m.self);
      mode = remote === 1 && stageIsRemote ? "spotlight" : "focus";
    }
    this.layoutName = layoutName;
    this.stage.dataset.mode = mode;
    for (const v of this.views.values()) {
      v.root.hidden = false;
      unplace(v.root);
    }
    this.solo.hidden = !(mode === "solo" && self);
    let pages = 1;
    if (mode === "spotlight") {
      // Both tiles placed by fitSpotlight: the self view never lies over the remote picture.
      const fit = fitSpotlight({ width, height, gap: GAP, labelHeight: LABEL_H });
      this.stage.dataset.arrangement = fit.arrangement;
      const main = this.models.find((m) => !m.self);
      const mv = main ? this.views.get(main.key) : undefined;
      const sv = self ? this.views.get(self.key) : undefined;
      if (mv) place(mv.root, fit.main, fit.mainLabelWidth, "main");
      if (sv) place(sv.root, fit.self, fit.self.width, "self");
      stage = main?.key ?? null;
      this.order(this.sortedModels());
    } else if (mode === "focus" || mode === "presenter") {
      // Speaker view and presenter: the stage tile big, the others in a strip beside or under it (fitFocus), paged.
      const strip = this.sortedModels().filter((m) => m.key !== stage);
      let fit = fitFocus({ width, height, gap: GAP, labelHeight: LABEL_H, stripCount: strip.length });
      if (fit.pages > 1) fit = fitFocus({ width, height: height - PAGER_H, gap: GAP, labelHeight: LABEL_H, stripCount: strip.length });
      this.stage.dataset.arrangement = fit.arrangement;
      pages = fit.pages;
      this.page = clampPage(this.page, pages);
      const shown = pageItems(strip, this.page, Math.max(1, fit.perPage));
      const sv = stage ? this.views.get(stage) : undefined;
      if (sv) place(sv.root, fit.main, fit.main.width, "main");
      const visible = new Set(shown.map((m) => m.key));
      if (stage) visible.add(stage);
      shown.forEach((m, i) => {
        const v = this.views.get(m.key);
        const r = fit.strip[i];
        if (v && r) place(v.root, r, r.width, "strip");
      });
      for (const [key, v] of this.views) v.root.hidden = !visible.has(key);
      const stageModel = this.models.find((m) => m.key === stage);
      this.order(stageModel ? [stageModel, ...strip] : strip);
    } else if (mode === "solo") {
      delete this.stage.dataset.arrangement;
      const r = fitAspect(width, height - LABEL_H - SOLO_NOTE_H);
      this.grid.style.setProperty("--cols", "1");
      this.grid.style.setProperty("--tile-w", `${r.width}px`);
      this.grid.style.setProperty("--video-h", `${r.height}px`);
      this.order(this.models);
    } else {
      delete this.stage.dataset.arrangement;
      const input = { count: this.models.length, width, height, gap: GAP, labelHeight: LABEL_H };
      let fit = fitGrid(input);
      // Several pages: leave room for the pager under the grid.
      if (fit.pages > 1) fit = fitGrid({ ...input, height: height - PAGER_H });
      pages = fit.pages;
      this.page = clampPage(this.page, pages);
      const ordered = this.sortedModels(fit.perPage, this.page);
      const visible = new Set(pageItems(ordered, this.page, fit.perPage).map((m) => m.key));
      for (const [key, v] of this.views) v.root.hidden = !visible.has(key);
      this.grid.style.setProperty("--cols", String(fit.columns));
      this.grid.style.setProperty("--tile-w", `${fit.tileWidth}px`);
      this.grid.style.setProperty("--video-h", `${fit.videoHeight}px`);
      this.order(ordered);
    }
    this.markTiles(mode === "focus" || mode === "spotlight" || mode === "presenter" ? stage : null);
    this.pages = pages;
    this.renderPager();
    if (this.lastLayout !== layoutName || this.lastPinned !== this.pinnedKey) {
      this.lastLayout = layoutName;
      this.lastPinned = this.pinnedKey;
      this.hooks.onLayout?.(layoutName, this.pinnedKey);
    }
  }

  /** `data-stage`, `data-pinned` and the pin buttons' labels (with their key: 0 self, 1-9 remotes). */
  private markTiles(stage: string | null): void {
    const remotes = this.orderKeys.filter((k) => this.models.some((m) => m.key === k && !m.self));
    for (const m of this.models) {
      const v = this.views.get(m.key);
      if (!v) continue;
      const pinned = this.pinnedKey === m.key;
      toggleAttr(v.root, "data-pinned", pinned);
      toggleAttr(v.root, "data-stage", stage === m.key);
      const idx = m.self ? 0 : remotes.indexOf(m.key) + 1;
      const keyHint = (m.self || idx > 0) && idx <= 9 ? ` (${idx})` : "";
      const who = m.self ? "yourself" : m.name;
      const label = pinned ? `Unpin ${who}${keyHint}` : `Pin ${who} to the stage${keyHint}`;
      v.pin.setAttribute("aria-pressed", String(pinned));
      v.pin.setAttribute("aria-label", label);
      v.pin.title = label;
    }
  }

  private order(models: TileModel[]): void {
    // Keep DOM order = tile order (self first) so focus order follows the layout.
    let prev: Element | null = null;
    for (const m of models) {
      const v = this.views.get(m.key);
      if (!v) continue;
      const want: Element | null = prev ? prev.nextElementSibling : this.grid.firstElementChild;
      if (want !== v.root) {
        if (prev) prev.after(v.root);
        else this.grid.prepend(v.root);
      }
      prev = v.root;
    }
  }

  private renderPager(): void {
    this.pager.hidden = this.pages <= 1;
    if (this.pages <= 1) {
      this.pager.replaceChildren();
      return;
    }
    const prev = h("button", { type: "button", class: "icon-btn small", "aria-label": "Previous page (Page Up)", disabled: this.page === 0 }, icon("chevronLeft"));
    prev.addEventListener("click", () => this.turnPage(-1));
    const next = h("button", { type: "button", class: "icon-btn small", "aria-label": "Next page (Page Down)", disabled: this.page >= this.pages - 1 }, icon("chevronRight"));
    next.addEventListener("click", () => this.turnPage(1));
    const dots = h("span", { class: "dots", "aria-live": "polite" });
    for (let i = 0; i < this.pages; i++) dots.append(h("i", { class: i === this.page ? "on" : "" }));
    dots.append(h("span", { class: "sr-only" }, `Page ${this.page + 1} of ${this.pages}`));
    this.pager.replaceChildren(prev, dots, next);
  }
}

/** Inside our own share's tile: what others see instead of our screen (no mirror of a mirror). */
function ownShareNote(): HTMLElement {
  return h(
    "div",
    { class: "share-note" },
    icon("share"),
    h("strong", {}, "You are presenting"),
    h("span", {}, "Everyone in the call sees your screen"),
  );
}
