// One peer connection to the SFU: a publishing leg (sendonly audio + video)
// or a playing leg (recvonly audio + video). The offer always comes from
// here; the SFU answers (as with native clients). Codecs: H.264 constrained
// baseline with packetization-mode=1 first (what the SFU and native clients
// speak), Opus for audio; no simulcast.

import type { IceCandidate, MediaRole } from "./protocol.js";

/** The H.264 format every Confer endpoint announces. */
export const H264_PROFILE = "42e01f";

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

/** Opus first (the SFU forwards Opus only). */
export function preferOpus(codecs: RTCRtpCodec[]): RTCRtpCodec[] {
  return codecs.filter((c) => c.mimeType.toLowerCase() === "audio/opus");
}

function capabilities(kind: "audio" | "video", direction: "send" | "receive"): RTCRtpCodec[] {
  const caps =
    direction === "send" ? RTCRtpSender.getCapabilities(kind) : RTCRtpReceiver.getCapabilities(kind);
  return caps?.codecs ?? [];
}

function setPreferences(t: RTCRtpTransceiver, kind: "audio" | "video", direction: "send" | "receive"): void {
  const all = capabilities(kind, direction);
  const preferred = kind === "video" ? preferH264(all) : preferOpus(all);
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
  }

  /** Adds the tracks to send (null = that kind is not sent yet) and makes the offer. */
  async offerPublish(audio: MediaStreamTrack | null, video: MediaStreamTrack | null): Promise<string> {
    const stream = new MediaStream([audio, video].filter((t): t is MediaStreamTrack => t !== null));
    for (const kind of ["audio", "video"] as const) {
      const track = kind === "audio" ? audio : video;
      const t = this.pc.addTransceiver(track ?? kind, { direction: "sendonly", streams: [stream] });
      setPreferences(t, kind, "send");
      this.senders[kind] = t.sender;
    }
    if (this.senders.video) {
      const params = this.senders.video.getParameters();
      // The barcode stamp must keep its size: drop frames, not pixels.
      params.degradationPreference = "maintain-resolution";
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
    await this.pc.setRemoteDescription({ type: "answer", sdp });
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pc.onicecandidate = null;
    this.pc.onconnectionstatechange = null;
    this.pc.ontrack = null;
    this.pc.close();
  }
}
