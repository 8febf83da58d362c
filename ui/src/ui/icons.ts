// Inline SVG icons (24x24, stroke = currentColor). Drawn for Confer; no icon font, no CDN.

const wrap = (body: string): string =>
  `<svg class="icon" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${body}</svg>`;

const slash = `<path d="M3.5 3.5l17 17"/>`;
const micBody = `<rect x="9" y="2.5" width="6" height="11.5" rx="3"/><path d="M5.5 11a6.5 6.5 0 0 0 13 0"/><path d="M12 17.5V21"/>`;
const camBody = `<rect x="2.5" y="6" width="13" height="12" rx="2.5"/><path d="M15.5 10.5l6-3.5v10l-6-3.5"/>`;

export const icons = {
  mic: wrap(micBody),
  micOff: wrap(micBody + slash),
  camera: wrap(camBody),
  cameraOff: wrap(camBody + slash),
  chevronDown: wrap(`<path d="M6 9l6 6 6-6"/>`),
  chevronUp: wrap(`<path d="M6 15l6-6 6 6"/>`),
  chevronLeft: wrap(`<path d="M15 6l-6 6 6 6"/>`),
  chevronRight: wrap(`<path d="M9 6l6 6-6 6"/>`),
  chat: wrap(`<path d="M5 4h14a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-8l-5 4v-4H5a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/>`),
  people: wrap(
    `<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/><circle cx="17" cy="9" r="2.5"/><path d="M16.5 14a5 5 0 0 1 5 6"/>`,
  ),
  leave: wrap(
    `<path d="M3 14.5c4.9-4.6 13.1-4.6 18 0l-2.3 2.8-3.7-1.4v-2.6c-2-.7-4-.7-6 0v2.6l-3.7 1.4z"/>`,
  ),
  info: wrap(`<circle cx="12" cy="12" r="9"/><path d="M12 11v5.5"/><path d="M12 7.5h.01"/>`),
  invite: wrap(`<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/><path d="M19 8v6M16 11h6"/>`),
  copy: wrap(`<rect x="9" y="9" width="11.5" height="11.5" rx="2"/><path d="M5 15H4.5A1.5 1.5 0 0 1 3 13.5v-9A1.5 1.5 0 0 1 4.5 3h9A1.5 1.5 0 0 1 15 4.5V5"/>`),
  check: wrap(`<path d="M5 12.5l4.5 4.5L19 7.5"/>`),
  close: wrap(`<path d="M6 6l12 12M18 6L6 18"/>`),
  search: wrap(`<circle cx="11" cy="11" r="6.5"/><path d="M20 20l-4.2-4.2"/>`),
  send: wrap(`<path d="M4 12l16-8-5.5 16-3-6.5z"/><path d="M11.5 13.5L20 4"/>`),
  keyboard: wrap(
    `<rect x="2.5" y="6" width="19" height="12" rx="2"/><path d="M6.5 10h.01M10 10h.01M14 10h.01M17.5 10h.01M7.5 14.5h9"/>`,
  ),
  alert: wrap(`<path d="M12 3.5L22 20.5H2z"/><path d="M12 10v4.5"/><path d="M12 17.5h.01"/>`),
  speaker: wrap(`<path d="M4 9.5h3.5L12 5.5v13l-4.5-4H4z"/><path d="M15.5 9a4.5 4.5 0 0 1 0 6"/><path d="M18 6.5a8 8 0 0 1 0 11"/>`),
  /** Three level bars: someone is speaking (people list). */
  speaking: wrap(`<path d="M6 10v4"/><path d="M10 6.5v11"/><path d="M14 8.5v7"/><path d="M18 11v2"/>`),
  more: wrap(`<circle cx="5.5" cy="12" r="1"/><circle cx="12" cy="12" r="1"/><circle cx="18.5" cy="12" r="1"/>`),
  link: wrap(`<path d="M10 14a4.5 4.5 0 0 0 6.4 0l3-3a4.5 4.5 0 0 0-6.4-6.4l-1 1"/><path d="M14 10a4.5 4.5 0 0 0-6.4 0l-3 3a4.5 4.5 0 0 0 6.4 6.4l1-1"/>`),
  server: wrap(`<rect x="3" y="4" width="18" height="7" rx="2"/><rect x="3" y="13" width="18" height="7" rx="2"/><path d="M7 7.5h.01M7 16.5h.01"/>`),
  /** A push pin (tile pin button, pinned tile). */
  pin: wrap(`<path d="M9 3.5h6l-1 5.5 3.5 3.5v1.5h-11V12.5L10 9z"/><path d="M12 14v6.5"/>`),
  /** Grid / speaker view (the Layout button). */
  grid: wrap(`<rect x="3" y="4" width="8" height="7" rx="1.5"/><rect x="13" y="4" width="8" height="7" rx="1.5"/><rect x="3" y="13" width="8" height="7" rx="1.5"/><rect x="13" y="13" width="8" height="7" rx="1.5"/>`),
  focus: wrap(`<rect x="3" y="4" width="13" height="16" rx="1.5"/><rect x="18" y="4" width="3" height="4.5" rx="1"/><rect x="18" y="9.75" width="3" height="4.5" rx="1"/><rect x="18" y="15.5" width="3" height="4.5" rx="1"/>`),
  /** A fresh invite link ("New link"). */
  refresh: wrap(`<path d="M20 11.5A8 8 0 0 0 6.3 6.3L4 8.5"/><path d="M4 4v4.5h4.5"/><path d="M4 12.5a8 8 0 0 0 13.7 5.2L20 15.5"/><path d="M20 20v-4.5h-4.5"/>`),
  /** Screen sharing: a screen with an arrow up (the Share button, the sharing bar). */
  share: wrap(`<rect x="2.5" y="4" width="19" height="13" rx="2"/><path d="M8 21h8"/><path d="M12 17v4"/><path d="M12 14V8"/><path d="M9 10.5l3-3 3 3"/>`),
  /** A window (the share picker's placeholder for a window without a thumbnail). */
  window: wrap(`<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M3 8.5h18"/><path d="M6 6.3h.01M8.5 6.3h.01"/>`),
  /** Reachability checks. */
  pulse: wrap(`<path d="M2.5 12h4l2.5-6 5 12 2.5-6h5"/>`),
} as const;

export type IconName = keyof typeof icons;
