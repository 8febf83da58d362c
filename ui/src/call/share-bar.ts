// "You are sharing … [Stop sharing]" (UX.md §2: the presenter sees this, not
// their own screen): a bar in the call screen's flow under the header, so it
// never lies over a video surface; `role="status"` announces it.

import type { LocalShare } from "../state.js";
import { h, icon, setText } from "../ui/dom.js";

export class ShareBar {
  readonly root: HTMLElement;
  private readonly text: HTMLElement;
  private shown: LocalShare | null = null;

  constructor(before: HTMLElement, onStop: () => void, stopKeys: string) {
    this.text = h("span", { class: "share-bar-text" });
    const stop = h("button", { type: "button", class: "btn danger small", id: "stop-share", "aria-label": `Stop sharing (${stopKeys})`, title: `Stop sharing (${stopKeys})` }, "Stop sharing");
    stop.addEventListener("click", onStop);
    this.root = h("div", { class: "share-bar", id: "share-bar", role: "status", hidden: true }, icon("share"), this.text, stop);
    before.before(this.root);
  }

  render(share: LocalShare | null): void {
    if (share === this.shown) return;
    this.shown = share;
    this.root.hidden = share === null;
    if (share) {
      this.root.dataset.streamId = share.stream_id;
      setText(this.text, `You are sharing "${share.source.name}" with everyone`);
    } else {
      delete this.root.dataset.streamId;
      setText(this.text, "");
    }
  }
}
