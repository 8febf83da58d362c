// The ▾ menus next to the mic and camera buttons: switch device mid-call
// (listbox/option, UX.md §6), plus the speaker and the video quality.

import type { Devices, Option } from "../devices.js";
import { cameraOptions, cameraValue, micOptions, micValue, presetOf, speakerOptions, speakerValue } from "../devices.js";
import type { Settings, VideoPreset } from "../types.js";
import { VIDEO_PRESETS } from "../types.js";
import { h, icon } from "../ui/dom.js";
import { listboxKeys, Popover } from "../ui/popover.js";

interface Section {
  title: string;
  options: Option[];
  value: string;
  choose: (value: string) => void;
}

export class DeviceMenu {
  readonly popover: Popover;

  constructor(
    private kind: "audio" | "video",
    private devices: Devices,
    private settings: () => Settings,
    private live: () => boolean,
  ) {
    this.popover = new Popover(kind === "audio" ? "Audio settings" : "Video settings", "device-menu");
    devices.subscribe(() => {
      if (this.popover.isOpen) this.render();
    });
  }

  toggle(anchor: HTMLElement): void {
    if (!this.popover.isOpen) {
      this.render();
      void this.devices.refresh();
    }
    this.popover.toggle(anchor);
  }

  private sections(): Section[] {
    const s = this.settings();
    const list = this.devices.list;
    if (this.kind === "audio") {
      return [
        { title: "Microphone", options: micOptions(list), value: micValue(s, list), choose: (v) => void this.devices.chooseMic(v, this.live()) },
        { title: "Speaker", options: speakerOptions(list), value: speakerValue(s, list), choose: (v) => void this.devices.chooseSpeaker(v, this.live()) },
      ];
    }
    return [
      { title: "Camera", options: cameraOptions(list), value: cameraValue(s, list), choose: (v) => void this.devices.chooseCamera(v, this.live()) },
      {
        title: "Send video quality",
        options: VIDEO_PRESETS.map((p) => ({ value: p, label: p })),
        value: presetOf(s),
        choose: (v) => void this.devices.choosePreset(v as VideoPreset, this.live()),
      },
    ];
  }

  private render(): void {
    const focused = document.activeElement instanceof HTMLElement && this.popover.el.contains(document.activeElement) ? document.activeElement.dataset.value : undefined;
    this.popover.el.replaceChildren(
      ...this.sections().map((sec) => {
        const list = h("div", { class: "menu-list", role: "listbox", "aria-label": sec.title });
        for (const o of sec.options) {
          const selected = o.value === sec.value;
          const b = h(
            "button",
            { type: "button", class: "menu-item", role: "option", "aria-selected": String(selected), "data-value": o.value, tabindex: selected ? "0" : "-1" },
            h("span", { class: "menu-check" }, selected ? icon("check") : null),
            h("span", { class: "menu-label" }, o.label),
          );
          b.addEventListener("click", () => {
            sec.choose(o.value);
            this.render();
          });
          list.append(b);
        }
        listboxKeys(list);
        return h("div", { class: "menu-section" }, h("div", { class: "menu-title" }, sec.title), list);
      }),
    );
    if (focused !== undefined) this.popover.el.querySelector<HTMLElement>(`[data-value="${CSS.escape(focused)}"]`)?.focus();
    this.popover.place();
  }
}
