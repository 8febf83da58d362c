// The connection stats popover behind a tile's quality badge (UX.md §4):
// resolution, fps, bitrate, RTT, loss, MOS, A/V sync, codec, and Copy.

import type { CallState } from "../state.js";
import { playStats, publishStats, statsText, type StatRow } from "../quality.js";
import { copyButton, h } from "../ui/dom.js";
import { Popover } from "../ui/popover.js";

export class StatsPopover {
  readonly popover = new Popover("Connection statistics", "stats-popover");
  private key: string | null = null;
  private title = "";
  private rows: StatRow[] = [];

  constructor() {
    this.popover.onClose = () => {
      this.key = null;
    };
  }

  toggle(anchor: HTMLElement, key: string, s: CallState): void {
    if (this.popover.isOpen && this.key === key) {
      this.popover.close();
      return;
    }
    this.key = key;
    this.render(s);
    this.popover.open(anchor);
  }

  /** Live update while open (quality arrives every 3 s). */
  update(s: CallState): void {
    if (!this.popover.isOpen || !this.key) return;
    if (this.key !== "self" && !s.streams[this.key.slice("stream:".length)]) {
      this.popover.close(false);
      return;
    }
    this.render(s);
  }

  private render(s: CallState): void {
    const key = this.key!;
    if (key === "self") {
      this.title = "Your video (sending)";
      this.rows = s.publisher.quality ? publishStats(s.publisher.quality) : [];
    } else {
      const st = s.streams[key.slice("stream:".length)];
      this.title = `${st?.user.user_name || st?.user.user_id || "Stream"} (receiving)`;
      this.rows = st?.quality ? playStats(st.quality, st.layer) : [];
    }
    const table = this.rows.length
      ? h("dl", { class: "stats" }, ...this.rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))
      : h("p", { class: "muted" }, "No measurements yet. They arrive every 3 seconds once media flows.");
    const copy = copyButton("statistics", () => statsText(this.title, this.rows));
    this.popover.el.replaceChildren(h("div", { class: "popover-head" }, h("strong", {}, this.title), copy), table);
    this.popover.place();
  }
}
