// Our own screen share (issue 17): listing what can be shared, starting a
// share as `${user_id}-screen` on the aux channel, following the SDK's
// `ScreenCaptureStateUpdate` (it ends the share by itself when the shared
// window closes or capture fails) and stopping it. No DOM: the
// picker (call/share-picker.ts), the sharing bar (call/share-bar.ts) and the
// presenter layout (call/grid.ts) read `CallState.share`.

import type { Api } from "./tauri.js";
import { normaliseError } from "./tauri.js";
import type { CallStore } from "./state.js";
import type { AppEvent, CommandError, SdkEvent } from "./types.js";
import type { ShareHint, ShareSource, ShareStatus } from "./generated/app.js";
import { ErrorCode } from "./generated/error-codes.js";
import { shareStreamId } from "./names.js";

export type ShareApi = Pick<Api, "listShareSources" | "startShare" | "stopShare">;

/** A toast's title and detail for a share that failed to start or list (by the SDK's screen codes). */
export function describeShareError(e: CommandError): { title: string; detail: string } {
  switch (e.code) {
    case ErrorCode.PermissionDenied:
      return { title: "Screen sharing was not allowed", detail: "Allow Confer to record the screen when your system asks, then try again." };
    case ErrorCode.ScreenSourceGone:
      return { title: "That window or screen is gone", detail: "It closed before sharing started. Pick another one." };
    case ErrorCode.NoDisplay:
      return { title: "There is no screen to share", detail: "Confer could not reach the display server." };
    case ErrorCode.ScreenCaptureUnsupported:
      return { title: "This screen can't be shared", detail: "Confer cannot capture this display yet." };
    case ErrorCode.EngineDestroyed:
      return { title: "You can't share right now", detail: "Join a call first." };
    default:
      return { title: "Can't share your screen", detail: e.message || "The screen could not be captured." };
  }
}

export class ShareController {
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    private api: ShareApi,
    private store: CallStore,
  ) {}

  /** Whether we share now. */
  get sharing(): boolean {
    return this.store.state.share !== null;
  }

  /** What can be shared; null (and a toast) when listing failed. */
  async sources(): Promise<ShareSource[] | null> {
    try {
      return await this.api.listShareSources();
    } catch (e) {
      this.toast(normaliseError(e));
      return null;
    }
  }

  /** Shares `source_id` with `hint` as our `-screen` stream. Resolves true once it runs; failures become toasts. */
  start(source_id: string, hint: ShareHint): Promise<boolean> {
    return this.serial(async () => {
      const self = this.store.state.self;
      if (!self) return false;
      try {
        const status = await this.api.startShare({ source_id, hint, stream_id: shareStreamId(self.user_id) });
        this.running(status);
        return true;
      } catch (e) {
        this.toast(normaliseError(e));
        return false;
      }
    });
  }

  /** Stops sharing (others get stream Delete); safe when not sharing. */
  stop(): Promise<void> {
    return this.serial(async () => {
      const was = this.store.state.share !== null;
      this.store.dispatch({ event: "app/share", share: null });
      if (!was) return;
      try {
        await this.api.stopShare();
      } catch {
        /* already stopped (the engine is gone) */
      }
    });
  }

  /**
   * Follows the SDK's share events: a share that ended by itself (the window
   * closed, capture failed) leaves the presenter layout with a toast, and the
   * app lets go of it.
   */
  onEvent(e: SdkEvent | AppEvent): void {
    if (e.event !== "ScreenCaptureStateUpdate" || (e.state !== "SourceGone" && e.state !== "Failed")) return;
    const share = this.store.state.share;
    if (!share) return;
    this.store.dispatch({ event: "app/share", share: null });
    const detail =
      e.state === "SourceGone" ? `"${share.source.name}" was closed, so others no longer see it.` : `Capturing "${share.source.name}" failed: ${e.info || "the display refused it"}.`;
    this.store.dispatch({ event: "app/notice", kind: "warning", title: "Sharing stopped", detail, code: e.error_code || null });
    void this.serial(() => this.api.stopShare().catch(() => null));
  }

  private running(status: ShareStatus): void {
    this.store.dispatch({ event: "app/share", share: { stream_id: status.stream_id, source: status.source } });
  }

  private toast(error: CommandError): void {
    const t = describeShareError(error);
    this.store.dispatch({ event: "app/notice", kind: "error", title: t.title, detail: t.detail, code: error.code });
  }

  /** Start and stop one at a time (a click on Stop while starting waits for the start). */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.busy.then(f, f);
    this.busy = run.catch(() => {});
    return run;
  }
}
