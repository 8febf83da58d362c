// Self-updates (docs/app-contract.md "Updates"): a check shortly after start
// and from the "Check for updates" button in the home footer; a non-blocking
// banner "Confer X.Y.Z is available — notes — [Update] [Later]", download
// progress, then the app relaunches as the new version. Failures (feed
// unreachable, bad signature, cut-short download, install failed) show in
// the banner with their code; the running version keeps working.
//
// The pure parts (texts, progress, error titles) are exported for tests; the
// DOM part is `startUpdates()`.

import { normaliseError } from "./tauri.js";
import type { CommandError, UpdateInfo, UpdateProgress } from "./types.js";
import { ErrorCode } from "./generated/error-codes.js";

/** The protocol's update error codes (protocol/src/error_code.rs). */
export const UPDATE_ERRORS = {
  feedUnreachable: ErrorCode.UpdateFeedUnreachable,
  signatureInvalid: ErrorCode.UpdateSignatureInvalid,
  downloadFailed: ErrorCode.UpdateDownloadFailed,
  installFailed: ErrorCode.UpdateInstallFailed,
  noPendingUpdate: ErrorCode.NoPendingUpdate,
} as const;

/** Seconds after start before the automatic check (keeps it off the first paint). */
export const START_CHECK_DELAY_MS = 1500;

/** "1.4 MB", "512 KB", "80 B". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "?";
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  if (bytes >= 1_000) return `${Math.round(bytes / 1_000)} KB`;
  return `${Math.round(bytes)} B`;
}

/** The banner's headline for an available update. */
export function availableText(info: UpdateInfo): string {
  return `Confer ${info.version} is available (you have ${info.current_version})`;
}

/** Release notes trimmed to something a banner can hold. */
export function notesText(notes: string, max = 280): string {
  const text = notes.replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Percent done (0-100), or null when the size is unknown. */
export function progressPercent(p: { downloaded: number; total: number | null }): number | null {
  if (!p.total || p.total <= 0) return null;
  return Math.max(0, Math.min(100, Math.round((p.downloaded / p.total) * 100)));
}

/** The progress line for one `update_progress` event. */
export function progressText(p: UpdateProgress): string {
  switch (p.stage) {
    case "downloading": {
      const pct = progressPercent(p);
      return pct === null
        ? `Downloading… ${formatBytes(p.downloaded)}`
        : `Downloading… ${pct}% (${formatBytes(p.downloaded)} of ${formatBytes(p.total ?? 0)})`;
    }
    case "installing":
      return "Verified. Installing…";
    case "restarting":
      return "Installed. Restarting Confer…";
  }
}

/** The headline for a failed check or install; the message and code follow it. */
export function errorTitle(error: CommandError): string {
  switch (error.code) {
    case UPDATE_ERRORS.feedUnreachable:
      return "Could not check for updates";
    case UPDATE_ERRORS.signatureInvalid:
      return "Update refused: bad signature";
    case UPDATE_ERRORS.downloadFailed:
      return "Update download failed";
    case UPDATE_ERRORS.installFailed:
      return "Update not installed";
    case UPDATE_ERRORS.noPendingUpdate:
      return "No update to install";
    default:
      return "Update failed";
  }
}

/** The error's sentence and what happens now: "<Message>. Confer <version> keeps running." */
export function errorText(error: CommandError, currentVersion: string): string {
  const message = error.message.trim();
  const sentence = message ? message[0].toUpperCase() + message.slice(1) : errorTitle(error);
  const stop = /[.!?]$/.test(sentence) ? "" : ".";
  const keeps = currentVersion ? ` Confer ${currentVersion} keeps running.` : "";
  return `${sentence}${stop}${keeps}`;
}

// ---------------------------------------------------------------- DOM part

interface Tauri {
  core: { invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T> };
  event: { listen<T>(name: string, handler: (e: { payload: T }) => void): Promise<() => void> };
}

function tauri(): Tauri | null {
  return (window as unknown as { __TAURI__?: Tauri }).__TAURI__ ?? null;
}

async function invoke<T>(cmd: string): Promise<T> {
  const t = tauri();
  if (!t) throw { code: ErrorCode.Internal, message: "not running inside the Confer app" };
  try {
    return await t.core.invoke<T>(cmd);
  } catch (e) {
    throw normaliseError(e);
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

/** The banner and the check button; one per window. */
class UpdateUi {
  private banner = el("div", "update-banner");
  private title = el("div", "update-title");
  private notes = el("div", "update-notes");
  private progress = el("progress", "");
  private status = el("div", "update-status");
  private error = el("div", "update-error");
  private code = el("div", "update-code");
  private install = el("button", "btn primary", "Update");
  private later = el("button", "btn secondary", "Later");
  private checkButton = el("button", "link-btn update-check", "Check for updates");
  private busy = false;
  private installing = false;
  private recheck = false;
  private currentVersion = "";

  constructor() {
    this.banner.id = "update-banner";
    this.banner.setAttribute("role", "status");
    this.banner.setAttribute("aria-live", "polite");
    this.banner.hidden = true;
    this.install.id = "update-install";
    this.install.type = "button";
    this.later.id = "update-later";
    this.later.type = "button";
    this.error.id = "update-error";
    this.error.setAttribute("role", "alert");
    this.status.id = "update-status";
    this.checkButton.id = "check-updates";
    this.checkButton.type = "button";
    const actions = el("div", "update-actions");
    actions.append(this.later, this.install);
    this.banner.append(this.title, this.notes, this.progress, this.status, this.error, this.code, actions);
    // In the home footer's flow, above the version line: it never covers the
    // page (or a video surface) and is out of sight during a call.
    const about = document.getElementById("home-about") ?? document.body;
    about.prepend(this.banner);
    document.getElementById("app-version")?.after(this.checkButton);

    this.install.addEventListener("click", () => void this.runInstall());
    this.later.addEventListener("click", () => {
      if (!this.busy) this.banner.hidden = true;
    });
    this.checkButton.addEventListener("click", () => void this.check(true));
  }

  /** Asks the feed; `manual` also reports "up to date" and errors. */
  async check(manual: boolean): Promise<void> {
    if (this.busy) {
      // A check already running (e.g. the one at start): ask again after it.
      if (manual && !this.installing) this.recheck = true;
      return;
    }
    this.busy = true;
    if (manual) this.show("Checking for updates…", "", null);
    try {
      const info = await invoke<UpdateInfo | null>("check_update");
      if (info) {
        this.currentVersion = info.current_version;
        this.show(availableText(info), notesText(info.notes), null);
        this.banner.dataset.version = info.version;
        this.install.hidden = false;
        this.install.disabled = false;
        this.later.textContent = "Later";
        this.install.focus();
      } else if (manual) {
        this.show("Confer is up to date.", "", null);
        this.install.hidden = true;
        this.later.textContent = "Close";
      }
    } catch (e) {
      const error = normaliseError(e);
      console.warn("update check failed", error);
      if (manual) {
        this.show("", "", error);
        this.install.hidden = true;
        this.later.textContent = "Close";
      }
    } finally {
      this.busy = false;
      if (this.recheck) {
        this.recheck = false;
        void this.check(true);
      }
    }
  }

  private async runInstall(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.installing = true;
    this.install.disabled = true;
    this.later.disabled = true;
    this.error.hidden = true;
    this.progress.hidden = false;
    this.progress.removeAttribute("value");
    this.status.textContent = "Downloading…";
    const t = tauri();
    const unlisten = t
      ? await t.event
          .listen<UpdateProgress>("update_progress", (e) => this.onProgress(e.payload))
          .catch(() => null)
      : null;
    try {
      await invoke<null>("install_update");
    } catch (e) {
      const error = normaliseError(e);
      this.show("", "", error);
      this.install.hidden = true;
      this.later.textContent = "Close";
    } finally {
      unlisten?.();
      this.busy = false;
      this.installing = false;
      this.later.disabled = false;
    }
  }

  private onProgress(p: UpdateProgress): void {
    this.status.textContent = progressText(p);
    this.banner.dataset.stage = p.stage;
    if (p.stage === "downloading") {
      const pct = progressPercent(p);
      if (pct === null) this.progress.removeAttribute("value");
      else {
        this.progress.max = 100;
        this.progress.value = pct;
      }
    } else {
      this.progress.max = 100;
      this.progress.value = 100;
    }
  }

  private show(title: string, notes: string, error: CommandError | null): void {
    if (error) title = errorTitle(error);
    this.title.textContent = title;
    this.title.hidden = !title;
    this.notes.textContent = notes;
    this.notes.hidden = !notes;
    this.progress.hidden = true;
    this.status.textContent = "";
    this.error.hidden = !error;
    this.error.textContent = error ? errorText(error, this.currentVersion) : "";
    this.code.hidden = !error;
    this.code.textContent = error ? `Code ${error.code}` : "";
    if (error) this.banner.dataset.errorCode = String(error.code);
    else delete this.banner.dataset.errorCode;
    this.banner.hidden = false;
  }

  /** The running version, for error texts before any check succeeded. */
  setCurrentVersion(version: string): void {
    if (!this.currentVersion) this.currentVersion = version;
  }
}

/** Adds the banner and the check button, and checks once shortly after start. */
export function startUpdates(version: Promise<string>): void {
  if (!tauri()) return;
  const ui = new UpdateUi();
  void version.then((v) => ui.setCurrentVersion(v));
  setTimeout(() => void ui.check(false), START_CHECK_DELAY_MS);
}
