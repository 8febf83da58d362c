// Screen sharing from the page, the way the SDK shares (media-core's
// screen_share.rs): the browser's getDisplayMedia track, with a content
// hint, becomes the aux channel's video and is published as the user's
// second stream, `<user>-screen`; media.ts sends it as one layer at the
// hint's frame rate and bitrate, kept fitted to the capture's size (a
// shared window resized). When the browser ends the capture (its own
// "Stop sharing" bar, the shared tab or window closing) the aux stream
// stops, and players get stream Delete. The share's state goes to the log
// as the SDK's onScreenCaptureStateUpdate: Capturing, then Stopped (the
// browser does not say whether the user or the source ended it).
//
// Stream IDs ending in `-screen` are shared screens, whoever publishes them
// (`confer call --share-screen <user>-screen`, the app): the page shows them
// big.

import type { WebEngine } from "./engine.js";
import type { ScreenShareState } from "./generated/events.js";
import { ErrorCode } from "./protocol.js";
import { screenEncoding, screenFps, type ScreenHint } from "./media.js";

/** The suffix that marks a shared screen's stream ID (the SDK's example: `alice-screen`). */
export const SCREEN_SUFFIX = "-screen";

/** The largest share sent (4K UHD); larger sources are scaled down to fit. */
const MAX_WIDTH = 3840;
const MAX_HEIGHT = 2160;

/** The stream ID a user's shared screen gets by default. */
export function screenStreamId(userId: string): string {
  return `${userId}${SCREEN_SUFFIX}`;
}

/** Whether a stream is a shared screen (by its ID's suffix). */
export function isScreenStream(streamId: string): boolean {
  return streamId.endsWith(SCREEN_SUFFIX);
}

/** A screen, window or tab the page shares on the aux channel. */
export class ScreenShare {
  private stopped = false;

  private constructor(
    private readonly engine: WebEngine,
    /** The capture (video only). */
    readonly stream: MediaStream,
    readonly streamId: string,
    readonly hint: ScreenHint,
    /** Plays the capture, unseen, to follow its size. */
    private readonly sizeWatch: HTMLVideoElement,
  ) {
    sizeWatch.addEventListener("resize", () => this.fitBitrate());
  }

  /**
   * Asks the browser for a screen (its picker, or the source a test's flags
   * pick), then publishes it on the aux channel as `streamId`. `ended` is
   * called once when the browser ends the capture (the share has stopped by
   * then). Throws what getDisplayMedia throws (NotAllowedError when the
   * user cancels) or the engine's SdkError; nothing is left running then.
   */
  static async start(engine: WebEngine, streamId: string, hint: ScreenHint, ended: () => void): Promise<ScreenShare> {
    const stream = await navigator.mediaDevices.getDisplayMedia({
      video: {
        frameRate: { ideal: screenFps(hint), max: screenFps(hint) },
        // The source's own size: without a maximum Chromium scales a tab
        // down to fit the screen (800x600 in headless Chromium).
        width: { max: MAX_WIDTH },
        height: { max: MAX_HEIGHT },
      },
      audio: false,
    });
    const track = stream.getVideoTracks()[0];
    if (!track) throw new Error("the browser shared no video");
    track.contentHint = hint;
    // Before its first frame a capture's settings give the constraints'
    // maximum, not its size; the encoding's bitrate is sized from them.
    const sizeWatch = await firstFrame(stream);
    const share = new ScreenShare(engine, stream, streamId, hint, sizeWatch);
    share.state("Capturing", "");
    try {
      engine.setLocalMedia({ audio: null, video: track }, "Aux");
      engine.startPublishingStream(streamId, "Aux");
    } catch (e) {
      share.stop(`not published: ${e instanceof Error ? e.message : String(e)}`);
      throw e;
    }
    track.addEventListener(
      "ended",
      () => {
        if (share.stopped) return;
        share.stop("the browser ended the capture (its Stop sharing, or the shared tab or window closed)");
        ended();
      },
      { once: true },
    );
    return share;
  }

  /** Stops publishing the aux stream and the capture (idempotent); `info` says why. */
  stop(info = ""): void {
    if (this.stopped) return;
    if (this.engine.publishingOn("Aux")?.streamId === this.streamId) {
      try {
        this.engine.stopPublishingStream("Aux");
      } catch {
        // Logged out meanwhile: nothing is published.
      }
    }
    this.release();
    this.state("Stopped", info);
  }

  /** The sent layer's bitrate for the capture's size now (the offer sized it for the size then). */
  private fitBitrate(): void {
    const track = this.stream.getVideoTracks()[0];
    const sender = this.engine
      .publisherConnection("Aux")
      ?.getSenders()
      .find((s) => s.track !== null && s.track === track);
    const params = sender?.getParameters();
    const encoding = params?.encodings[0];
    if (!sender || !params || !encoding || this.stopped) return;
    const { maxBitrate } = screenEncoding(this.sizeWatch.videoWidth, this.sizeWatch.videoHeight, this.hint);
    if (encoding.maxBitrate === maxBitrate) return;
    encoding.maxBitrate = maxBitrate;
    sender.setParameters(params).catch((e: unknown) => console.debug("confer: share bitrate not applied", e));
  }

  private state(state: ScreenShareState, info: string): void {
    this.engine.emit("onScreenCaptureStateUpdate", { state, error_code: ErrorCode.Success, info });
  }

  private release(): void {
    this.stopped = true;
    this.sizeWatch.srcObject = null;
    for (const t of this.stream.getTracks()) t.stop();
    this.engine.setLocalMedia({ audio: null, video: null }, "Aux");
  }
}

/** Plays the capture unseen; resolves once it has delivered a frame, or after `ms`. */
async function firstFrame(stream: MediaStream, ms = 3_000): Promise<HTMLVideoElement> {
  const video = document.createElement("video");
  video.muted = true;
  video.srcObject = stream;
  void video.play().catch(() => {});
  await Promise.race([
    new Promise((resolve) => video.addEventListener("loadeddata", resolve, { once: true })),
    new Promise((resolve) => setTimeout(resolve, ms)),
  ]);
  return video;
}
