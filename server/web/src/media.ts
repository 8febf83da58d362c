// One peer connection to the SFU: a publishing leg (sendonly audio + video)
// or a playing leg (recvonly audio + video). The offer always comes from
// here; the SFU answers (as with native clients). Codecs: H.264 constrained
// baseline with packetization-mode=1 first (what the SFU and native clients
// speak), RED over Opus, then Opus, for audio. Video from a source of 360
// lines or more is sent as simulcast (rids q/h/f = the protocol's low/medium/high layers), the same
// ladder as the SDK's (media-core/src/media/simulcast.rs). A shared screen
// (a track with a content hint) goes as one layer at its own size, with the
// SDK's frame rate and bitrate for its hint (media-core/src/codec/content.rs).

import type { IceCandidate, MediaRole, VideoLayer } from "./protocol.js";

/** The H.264 format every Confer endpoint announces. */
export const H264_PROFILE = "42e01f";

/** Each simulcast layer's rid, the lines it carries and its top bitrate. */
const LAYERS: readonly { layer: VideoLayer; rid: string; lines: number; maxBitrate: number }[] = [
  { layer: "low", rid: "q", lines: 180, maxBitrate: 150_000 },
  { layer: "medium", rid: "h", lines: 360, maxBitrate: 500_000 },
  { layer: "high", rid: "f", lines: 720, maxBitrate: 1_500_000 },
];

/**
 * The simulcast encodings for a source of `width` x `height`, lowest first,
 * or null for plain single-layer video. Each layer halves the one above;
 * there are as many as keep the smallest at 180 lines or more (the smaller
 * side counts), at most three: 720p and up sends f/h/q (full, 1/2, 1/4),
 * 360p up to 720p sends h/q (full, 1/2), smaller sources one plain layer.
 */
export function simulcastEncodings(width: number, height: number): RTCRtpEncodingParameters[] | null {
  const lines = Math.min(width, height);
  const count = lines >= 720 ? 3 : lines >= 360 ? 2 : 1;
  if (count === 1) return null;
  return LAYERS.slice(0, count).map((l, i) => ({
    rid: l.rid,
    scaleResolutionDownBy: 2 ** (count - 1 - i),
    maxBitrate: l.maxBitrate,
    active: true,
  }));
}

/** What a shared screen shows: the browser's `contentHint` values, the SDK's `ContentHint`. */
export type ScreenHint = "text" | "detail" | "motion";

/** Whether a track's content hint marks it as a shared screen's. */
export function screenHint(track: MediaStreamTrack | null): ScreenHint | null {
  const hint = track?.contentHint;
  return hint === "text" || hint === "detail" || hint === "motion" ? hint : null;
}

/** A shared screen's frame rate for its hint: 5 fps for text and detail, 30 for motion. */
export function screenFps(hint: ScreenHint): number {
  return hint === "motion" ? 30 : 5;
}

/**
 * A shared screen's one encoding: never scaled down, at most the hint's
 * frame rate, and the bits per pixel per second the SDK spends (1.2 for
 * text and detail: ~2.5 Mbit/s at 1080p; 1.8 for motion), 300 kbit/s to
 * 8 Mbit/s.
 */
export function screenEncoding(width: number, height: number, hint: ScreenHint): RTCRtpEncodingParameters {
  const bitsPerPixelS = hint === "motion" ? 1.8 : 1.2;
  const kbps = Math.floor(((width & ~1) * (height & ~1) * bitsPerPixelS) / 1000);
  return {
    maxBitrate: Math.min(8_000, Math.max(300, kbps)) * 1000,
    maxFramerate: screenFps(hint),
    scaleResolutionDownBy: 1,
    active: true,
  };
}

/** The layer a rid sends (null: not a simulcast rid). */
export function layerOfRid(rid: string | undefined): VideoLayer | null {
  return LAYERS.find((l) => l.rid === rid)?.layer ?? null;
}

/** What a leg reports to its owner. */
export interface LegEvents {
  /** A local ICE candidate (an empty `candidate` ends them). */
  candidate(c: IceCandidate): void;
  /** The connection is up. */
  connected(): void;
  /** The connection failed or closed by itself. */
  failed(why: string): void;
  /** A remote track arrived (playing legs). */
  track(track: MediaStreamTrack): void;
}

/**
 * Orders the browser's codecs: H.264 packetization-mode=1 with the
 * constrained-baseline profile first, then other H.264 mode-1 entries;
 * no RTX, no other codecs (the SFU forwards H.264 only).
 */
export function preferH264(codecs: RTCRtpCodec[]): RTCRtpCodec[] {
  const h264 = codecs.filter(
    (c) => c.mimeType.toLowerCase() === "video/h264" && /packetization-mode=1/.test(c.sdpFmtpLine ?? ""),
  );
  const score = (c: RTCRtpCodec): number => {
    const fmtp = (c.sdpFmtpLine ?? "").toLowerCase();
    if (fmtp.includes(`profile-level-id=${H264_PROFILE}`)) return 0;
    if (fmtp.includes("profile-level-id=42001f")) return 1;
    return 2;
  };
  return [...h264].sort((a, b) => score(a) - score(b));
}

/**
 * RED (RFC 2198) over Opus first, then Opus; no other codecs (the SFU
 * forwards Opus, and RED over it to legs that accept it). Chromium sends
 * RED only when it heads the answer, and the SFU answers in the offer's
 * order: without it every lost audio packet is concealed (measured at
 * 20 % loss each way: 33 % concealed).
 */
export function preferRedOpus(codecs: RTCRtpCodec[]): RTCRtpCodec[] {
  const red = codecs.filter((c) => c.mimeType.toLowerCase() === "audio/red");
  return red.concat(codecs.filter((c) => c.mimeType.toLowerCase() === "audio/opus"));
}

/**
 * The least rate, kbit/s, a publishing leg's estimate may fall to
 * (`x-google-min-bitrate` on the answer's H.264); 0: Chromium's own floor.
 * Chromium's loss-based estimate falls by the loss the SFU's transport-wide
 * feedback reports before NACKs repair it: at 20 % random loss each way its
 * 180p layer was held to 54 kbit/s, its 360p made 16 frames in 38 s and
 * its 720p none, and frames queued ~2.4 s in its pacer.
 */
let publishMinKbps = 300;

/** Sets the floor of publishing legs' estimates from now on (kbit/s, 0: none); the page's `?minrate=`. */
export function publishMinRate(kbps: number): void {
  publishMinKbps = kbps;
}

/** An answer with `x-google-min-bitrate=kbps` on each H.264 format line. */
export function withMinBitrate(sdp: string, kbps: number): string {
  const h264 = new Set(
    [...sdp.matchAll(/^a=rtpmap:(\d+) H264\/90000/gim)].map((m) => m[1]),
  );
  return sdp
    .split("\r\n")
    .map((l) => {
      const m = /^a=fmtp:(\d+) /.exec(l);
      return m && h264.has(m[1]) && !l.includes("x-google-min-bitrate") ? `${l};x-google-min-bitrate=${kbps}` : l;
    })
    .join("\r\n");
}

/**
 * The most a playing leg holds its video back while its player asks for
 * resends, ms (`jitterBufferTarget`); 0: never, Chromium's own target.
 * libwebrtc keeps frames a resend delayed out of its jitter estimate, so at
 * 20 % loss every repaired frame stalls the complete ones behind it: they
 * then leave together and the compositor shows only the last (967 decoded,
 * 325 presented).
 */
let repairTargetMs = 300;

/** Sets the most a playing leg holds its video while it repairs (ms, 0: never); the page's `?repair_ms=`. */
export function repairPlayoutTarget(ms: number): void {
  repairTargetMs = ms;
}

/** How long a playing leg keeps its repair target after its last NACK. */
const REPAIR_HOLD_MS = 10_000;

/**
 * The time one NACK round costs beyond the round trip: the gap is seen one
 * frame interval late at 30 fps, and the resend leaves the sender's queue.
 */
const REPAIR_ROUND_SLACK_MS = 50;

/** NACK rounds a repaired frame may take before it plays late: a lost resend gets a second. */
const REPAIR_ROUNDS = 2;

/** The playout target covering REPAIR_ROUNDS NACK rounds on a path of `rttMs`, at most `capMs`. */
export function repairTarget(rttMs: number, capMs: number): number {
  return Math.min(capMs, Math.round(REPAIR_ROUNDS * (rttMs + REPAIR_ROUND_SLACK_MS)));
}

/**
 * A playing leg's video playout target from its player's NACK count and
 * the leg's round trip: from a check that saw the count rise until
 * REPAIR_HOLD_MS after the last such check, the time REPAIR_ROUNDS resends
 * take on that round trip (at most `capMs`), else null (Chromium's own
 * target). Sized from the round trip, a near server costs little delay
 * (60 ms of RTT holds 220 ms, 100 ms holds 300 ms).
 */
export class RepairHold {
  /** The count at the last check. */
  private nacks = 0;
  /** When the count last rose (ms, any clock). */
  private lastRiseAt = -Infinity;

  constructor(private readonly capMs: number) {}

  /**
   * The target after a check at `nowMs` that read `nacks` NACKs sent in
   * all and the leg's current round trip `rttMs` (null: not measured yet,
   * the cap).
   */
  update(nacks: number, nowMs: number, rttMs: number | null): number | null {
    if (nacks > this.nacks) this.lastRiseAt = nowMs;
    this.nacks = nacks;
    if (this.capMs <= 0 || nowMs - this.lastRiseAt >= REPAIR_HOLD_MS) return null;
    return rttMs === null ? this.capMs : repairTarget(rttMs, this.capMs);
  }
}

function capabilities(kind: "audio" | "video", direction: "send" | "receive"): RTCRtpCodec[] {
  const caps =
    direction === "send" ? RTCRtpSender.getCapabilities(kind) : RTCRtpReceiver.getCapabilities(kind);
  return caps?.codecs ?? [];
}

function setPreferences(t: RTCRtpTransceiver, kind: "audio" | "video", direction: "send" | "receive"): void {
  const all = capabilities(kind, direction);
  const preferred = kind === "video" ? preferH264(all) : preferRedOpus(all);
  if (preferred.length > 0 && typeof t.setCodecPreferences === "function") {
    try {
      t.setCodecPreferences(preferred);
    } catch {
      // Firefox before 128 refuses some entries: keep its defaults.
    }
  }
}

/** A browser candidate in the protocol's shape. */
export function toWire(c: RTCIceCandidate | null): IceCandidate {
  if (!c) return { candidate: "", sdp_mid: null, sdp_mline_index: null };
  return { candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex };
}

/** One peer connection to the SFU. */
export class Leg {
  readonly pc: RTCPeerConnection;
  private remoteSet = false;
  private pending: RTCIceCandidateInit[] = [];
  private closed = false;
  private wasConnected = false;
  readonly senders: { audio?: RTCRtpSender; video?: RTCRtpSender } = {};
  /** The simulcast layers to send (dynacast); null: all. */
  private activeLayers: VideoLayer[] | null = null;
  /** A playing leg's check of its NACKs (repair playout target). */
  private repairTimer: ReturnType<typeof setInterval> | null = null;
  /** A playing leg's repair playout target. */
  private readonly repairHold = new RepairHold(repairTargetMs);

  constructor(
    readonly role: MediaRole,
    readonly streamId: string,
    iceServers: RTCIceServer[],
    private readonly events: LegEvents,
  ) {
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    this.pc.onicecandidate = (e) => {
      if (!this.closed) this.events.candidate(toWire(e.candidate));
    };
    this.pc.onconnectionstatechange = () => {
      if (this.closed) return;
      const s = this.pc.connectionState;
      if (s === "connected" && !this.wasConnected) {
        this.wasConnected = true;
        this.events.connected();
      } else if (s === "failed" || s === "closed") {
        this.events.failed(`peer connection ${s}`);
      }
    };
    this.pc.ontrack = (e) => {
      if (!this.closed) this.events.track(e.track);
    };
    if (role === "play" && repairTargetMs > 0) {
      this.repairTimer = setInterval(() => void this.holdForRepair(), 1000);
    }
  }

  /**
   * A playing leg: while its player asked for resends in the last
   * REPAIR_HOLD_MS, its video plays as late as two resend rounds take
   * (at most repairTargetMs); Chromium's own target after that.
   */
  private async holdForRepair(): Promise<void> {
    let nacks = 0;
    let rttMs: number | null = null;
    (await this.pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") nacks += s.nackCount ?? 0;
      // The selected pair is the nominated one that last carried traffic (one per leg: bundled).
      if (s.type === "candidate-pair" && s.nominated && typeof s.currentRoundTripTime === "number") {
        rttMs = s.currentRoundTripTime * 1000;
      }
    });
    const target = this.repairHold.update(nacks, performance.now(), rttMs);
    for (const r of this.pc.getReceivers()) {
      const receiver = r as RTCRtpReceiver & { jitterBufferTarget?: number | null };
      if (r.track.kind === "video" && "jitterBufferTarget" in receiver && receiver.jitterBufferTarget !== target) {
        receiver.jitterBufferTarget = target;
      }
    }
  }

  /** Adds the tracks to send (null = that kind is not sent yet) and makes the offer. */
  async offerPublish(audio: MediaStreamTrack | null, video: MediaStreamTrack | null): Promise<string> {
    const stream = new MediaStream([audio, video].filter((t): t is MediaStreamTrack => t !== null));
    for (const kind of ["audio", "video"] as const) {
      const track = kind === "audio" ? audio : video;
      const init: RTCRtpTransceiverInit = { direction: "sendonly", streams: [stream] };
      // Simulcast needs the source's size now: video that starts muted is sent as one layer.
      const settings = kind === "video" ? track?.getSettings() : undefined;
      const hint = kind === "video" ? screenHint(track) : null;
      const [width, height] = [settings?.width ?? 0, settings?.height ?? 0];
      const encodings = hint ? [screenEncoding(width, height, hint)] : settings ? simulcastEncodings(width, height) : null;
      if (encodings) init.sendEncodings = encodings;
      const t = this.pc.addTransceiver(track ?? kind, init);
      setPreferences(t, kind, "send");
      this.senders[kind] = t.sender;
    }
    if (this.senders.video) {
      const params = this.senders.video.getParameters();
      // The barcode stamp and a shared page's text must keep their size:
      // drop frames, not pixels (a shared video keeps its frame rate).
      params.degradationPreference = screenHint(video) === "motion" ? "maintain-framerate" : "maintain-resolution";
      this.applyLayers(params);
      try {
        await this.senders.video.setParameters(params);
      } catch {
        // Not every browser takes it before negotiation.
      }
    }
    return this.offer();
  }

  /** Makes a receive-only offer for audio and video. */
  async offerPlay(): Promise<string> {
    for (const kind of ["audio", "video"] as const) {
      const t = this.pc.addTransceiver(kind, { direction: "recvonly" });
      setPreferences(t, kind, "receive");
    }
    return this.offer();
  }

  private async offer(): Promise<string> {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    return this.pc.localDescription?.sdp ?? offer.sdp ?? "";
  }

  /** Applies the SFU's answer and the candidates that came before it. */
  async acceptAnswer(sdp: string): Promise<void> {
    if (this.closed) return;
    const floor = this.role === "publish" && publishMinKbps > 0;
    await this.pc.setRemoteDescription({ type: "answer", sdp: floor ? withMinBitrate(sdp, publishMinKbps) : sdp });
    this.remoteSet = true;
    for (const c of this.pending.splice(0)) await this.addIce(c);
  }

  /** A candidate from the SFU (held until the answer is applied). */
  async addRemoteCandidate(c: IceCandidate): Promise<void> {
    if (this.closed || !c.candidate) return;
    const candidate = c.candidate.startsWith("candidate:") ? c.candidate : `candidate:${c.candidate}`;
    const init: RTCIceCandidateInit = {
      candidate,
      sdpMid: c.sdp_mid ?? "0",
      sdpMLineIndex: c.sdp_mline_index ?? 0,
    };
    if (!this.remoteSet) {
      this.pending.push(init);
      return;
    }
    await this.addIce(init);
  }

  private async addIce(init: RTCIceCandidateInit): Promise<void> {
    try {
      await this.pc.addIceCandidate(init);
    } catch (e) {
      console.debug("remote candidate refused", init.candidate, e);
    }
  }

  /** Replaces what a publishing leg sends for one kind (null: send nothing). */
  async replace(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void> {
    const sender = this.senders[kind];
    if (sender && sender.track !== track) await sender.replaceTrack(track);
  }

  /** Sends only these simulcast layers (the lowest always): `active` on each encoding. */
  setActiveLayers(active: VideoLayer[]): void {
    this.activeLayers = active;
    const sender = this.senders.video;
    if (!sender || this.closed) return;
    const params = sender.getParameters();
    if (!this.applyLayers(params)) return;
    sender.setParameters(params).catch((e: unknown) => console.debug("simulcast layers not applied", e));
  }

  /** Sets each simulcast encoding's `active` from the layers wanted; whether anything changed. */
  private applyLayers(params: RTCRtpSendParameters): boolean {
    const wanted = this.activeLayers;
    const encodings = params.encodings.filter((e) => layerOfRid(e.rid) !== null);
    let changed = false;
    encodings.forEach((e, i) => {
      const on = wanted === null || i === 0 || wanted.includes(layerOfRid(e.rid)!);
      if (e.active !== on) changed = true;
      e.active = on;
    });
    return changed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.repairTimer) clearInterval(this.repairTimer);
    this.pc.onicecandidate = null;
    this.pc.onconnectionstatechange = null;
    this.pc.ontrack = null;
    this.pc.close();
  }
}
