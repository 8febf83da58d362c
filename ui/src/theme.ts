// Themes: `data-theme` on <html> picks a variable set in css/theme.css; the
// user's own `<config dir>/theme.css` goes in last so it can override any variable.
// `data-scheme` is the system's colour scheme (light | dark), kept current, so
// the "system" theme reuses the dark variable set instead of repeating it.

import type { Theme } from "./types.js";
import { THEMES } from "./types.js";

/** localStorage key of the last applied theme: a hint for the first frame, before the settings arrive. */
const LAST_THEME = "confer.theme";

const DARK_QUERY = "(prefers-color-scheme: dark)";

/** Keeps `data-scheme` on <html> equal to the system's colour scheme. */
export function trackSystemScheme(): void {
  const query = window.matchMedia(DARK_QUERY);
  const apply = (): void => {
    document.documentElement.dataset.scheme = query.matches ? "dark" : "light";
  };
  apply();
  query.addEventListener("change", apply);
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  try {
    localStorage.setItem(LAST_THEME, theme);
  } catch {
    /* no storage: the first frame uses the system theme */
  }
}

/** Applies the last theme at once (no light flash for a dark-theme user); the settings' theme follows. */
export function applyLastTheme(): void {
  trackSystemScheme();
  let last: string | null = null;
  try {
    last = localStorage.getItem(LAST_THEME);
  } catch {
    /* no storage */
  }
  if (last && (THEMES as readonly string[]).includes(last)) document.documentElement.dataset.theme = last;
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
