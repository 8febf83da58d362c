// The ▾ menus next to the mic and camera buttons: switch device mid-call
// (listbox/option, UX.md §6), plus the speaker, noise suppression and echo
// cancellation (audio), and the video quality.

import type { Devices, Option } from "../devices.js";
import { cameraOptions, cameraValue, micOptions, micValue, presetOf, speakerOptions, speakerValue } from "../devices.js";
import { ECHO_CANCELLATION_OPTIONS, echoCancellationOf, NOISE_SUPPRESSION_OPTIONS, noiseSuppressionOf } from "../audio-processing.js";
import type { Settings, VideoPreset } from "../types.js";
import { VIDEO_PRESETS } from "../types.js";
import { h, icon } from "../ui/dom.js";
import { listboxKeys, Popover } from "../ui/popover.js";

interface Section {
  title: string;
  options: Option[];
  value: string;
  choose: (value: string) => void;
  /** The audio menu's second column: the processing beside the devices. */
  side?: true;
}

export class DeviceMenu {
  readonly popover: Popover;

  constructor(
    private kind: "audio" | "video",
    private devices: Devices,
    private settings: () => Settings,
    private live: () => boolean,
  ) {
    this.popover = new Popover(kind === "audio" ? "Audio settings" : "Video settings", `device-menu ${kind}`);
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
        {
          title: "Noise suppression",
          side: true,
          options: [...NOISE_SUPPRESSION_OPTIONS],
          value: s.noise_suppression,
          choose: (v) => void this.devices.chooseProcessing({ noise_suppression: noiseSuppressionOf(v) }),
        },
        {
          title: "Echo cancellation",
          side: true,
          options: [...ECHO_CANCELLATION_OPTIONS],
          value: s.echo_cancellation,
          choose: (v) => void this.devices.chooseProcessing({ echo_cancellation: echoCancellationOf(v) }),
        },
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
    const active = document.activeElement instanceof HTMLElement && this.popover.el.contains(document.activeElement) ? document.activeElement : null;
    const focused = active ? { list: active.closest("[role=listbox]")?.getAttribute("aria-label"), value: active.dataset.value } : null;
    const sections = this.sections().map((sec) => {
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
      return { side: sec.side === true, el: h("div", { class: "menu-section" }, h("div", { class: "menu-title" }, sec.title), list) };
    });
    // The audio menu in two columns: the devices, and the processing beside them.
    const column = (side: boolean): HTMLElement => h("div", { class: "menu-column" }, ...sections.filter((sec) => sec.side === side).map((sec) => sec.el));
    this.popover.el.replaceChildren(...(sections.some((sec) => sec.side) ? [column(false), column(true)] : sections.map((sec) => sec.el)));
    if (focused?.list && focused.value !== undefined) {
      this.popover.el.querySelector<HTMLElement>(`[role=listbox][aria-label="${CSS.escape(focused.list)}"] [data-value="${CSS.escape(focused.value)}"]`)?.focus();
    }
    this.popover.place();
  }
}
