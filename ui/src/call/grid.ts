// The call stage: self view + one tile per remote stream, laid out by
// layout.ts (solo / spotlight: remote big + self view beside or under it / paged grid).
// Labels sit under the video rect, never on it, and no tile overlaps another
// (native surfaces cover HTML and each other: UX.md §7).

import type { CallState, RemoteStream } from "../state.js";
import { orderedStreams } from "../state.js";
import type { StreamQualityLevel } from "../types.js";
import { clampPage, fitAspect, fitGrid, fitSpotlight, pageItems, stageMode, type Rect, type StageMode } from "../layout.js";
import { barsFor, isPoor } from "../quality.js";
import { hueFor, initials } from "../names.js";
import { SELF_TILE, tileIdForStream } from "../session.js";
import { Codes } from "../errors.js";
import { h, icon, setIcon, setText, toggleAttr } from "../ui/dom.js";

/** Must match app.css: `--gap`, `.tile-label` height, `.solo-note` height, `.pager` height. */
export const GAP = 12;
export const LABEL_H = 34;
const SOLO_NOTE_H = 56;
const PAGER_H = 40;

const PLACED_VARS = ["--x", "--y", "--tile-w", "--video-h", "--label-w"] as const;

/** Positions a tile absolutely in the stage's content box (spotlight). */
function place(root: HTMLElement, r: Rect, labelWidth: number, role: "main" | "self"): void {
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
}

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
    });
  }
  const speaking = new Set(s.speaking.streams);
  for (const st of orderedStreams(s)) models.push({ ...remoteModel(st), speaking: speaking.has(st.stream_id) });
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
    if (st.player_error === Codes.StreamEnded) status = "Paused";
    else status = st.ever_played ? "Reconnecting…" : "Connecting…";
  }
  return {
    key: `stream:${st.stream_id}`,
    tileId: tileIdForStream(st.stream_id),
    userId: st.user.user_id,
    streamId: st.stream_id,
    self: false,
    name: st.user.user_name || st.user.user_id,
    micOn: st.mic !== "Mute",
    cameraOn: st.camera !== "Mute",
    rendering: st.first_frame,
    level: st.quality?.level ?? null,
    status,
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
}

export interface GridHooks {
  /** A tile element was created (canvas fallback attaches here). */
  onTileCreated(video: HTMLElement, tileId: string): void;
  /** The quality badge of a tile was clicked. */
  onStats(anchor: HTMLButtonElement, key: string): void;
  /** "Invite people" in the solo view. */
  onInvite(): void;
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
    const label = h("div", { class: "tile-label" }, mic, name, m.self ? h("span", { class: "tile-you" }, "You") : null, status, badge);
    const root = h("div", { class: "tile", "data-user-id": m.userId }, video, label);
    if (m.self) root.setAttribute("data-self", "");
    if (m.streamId) root.setAttribute("data-stream-id", m.streamId);
    this.grid.append(root);
    this.hooks.onTileCreated(video, m.tileId);
    return { root, video, avatar, mic, name, status, badge };
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

  private layout(): void {
    const { width, height } = this.size;
    const remote = this.models.filter((m) => !m.self).length;
    const mode: StageMode = stageMode(remote);
    this.stage.dataset.mode = mode;
    const self = this.models.find((m) => m.self);
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
      this.order(this.models);
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
      const visible = new Set(pageItems(this.models, this.page, fit.perPage).map((m) => m.key));
      for (const [key, v] of this.views) v.root.hidden = !visible.has(key);
      this.grid.style.setProperty("--cols", String(fit.columns));
      this.grid.style.setProperty("--tile-w", `${fit.tileWidth}px`);
      this.grid.style.setProperty("--video-h", `${fit.videoHeight}px`);
      this.order(this.models);
    }
    this.pages = pages;
    this.renderPager();
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
