// Themes: `data-theme` on <html> picks a variable set in css/theme.css; the
// user's own `<config dir>/theme.css` goes in last so it can override any variable.

import type { Theme } from "./types.js";

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
}

export function injectUserTheme(css: string | null): void {
  let style = document.getElementById("user-theme") as HTMLStyleElement | null;
  if (!css) {
    style?.remove();
    return;
  }
  if (!style) {
    style = document.createElement("style");
    style.id = "user-theme";
  }
  style.textContent = css;
  // Always last in <head>: after the built-in stylesheets.
  document.head.append(style);
}
