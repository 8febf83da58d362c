// Per-stream quality from RTCPeerConnection.getStats(): resolution, frame
// rate, bitrate, round-trip time and packet loss, computed from the deltas
// between two samples.

/** One quality sample of a stream (the fields of the SDK's quality events). */
export interface Quality {
  width: number;
  height: number;
  /** Frames per second (sent for publishers, decoded for players). */
  fps: number;
  video_kbps: number;
  audio_kbps: number;
  /** Round-trip time to the SFU, milliseconds. */
  rtt_ms: number;
  /** Packet loss over the interval, percent. */
  packet_loss_pct: number;
  /** Video codec, e.g. "video/H264". */
  codec: string;
  /** Excellent / Good / Medium / Bad / Die, from rtt and loss. */
  level: string;
  /** The selected candidate pair, as the SDK reports it; null until ICE has chosen one. */
  path: MediaPath | null;
}

/** Which kind of candidate each side of the selected pair is, and the transport under the media. */
export interface MediaPath {
  local: "host" | "srflx" | "prflx" | "relay";
  remote: "host" | "srflx" | "prflx" | "relay";
  protocol: "udp" | "tcp";
  /** For a relay candidate: how the page reaches the TURN server (udp, tcp or tls). */
  relay_protocol?: string;
}

function candidateKind(v: unknown): MediaPath["local"] {
  return v === "srflx" || v === "prflx" || v === "relay" ? v : "host";
}

/** The selected pair of `byId`'s transport (or a nominated, succeeded pair). */
export function selectedPath(byId: Map<string, Record<string, unknown>>): MediaPath | null {
  let pair: Record<string, unknown> | undefined;
  for (const s of byId.values()) {
    if (s.type === "transport" && typeof s.selectedCandidatePairId === "string") pair = byId.get(s.selectedCandidatePairId);
  }
  if (!pair) {
    for (const s of byId.values()) if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
  }
  if (!pair) return null;
  const local = byId.get(String(pair.localCandidateId));
  const remote = byId.get(String(pair.remoteCandidateId));
  if (!local) return null;
  const path: MediaPath = {
    local: candidateKind(local.candidateType),
    remote: candidateKind(remote?.candidateType ?? "prflx"),
    // A relay candidate's own protocol is the relayed (UDP) leg; what the page sends to TURN is relayProtocol.
    protocol: local.protocol === "tcp" ? "tcp" : "udp",
  };
  if (typeof local.relayProtocol === "string") path.relay_protocol = local.relayProtocol;
  return path;
}

interface Counters {
  at: number;
  videoBytes: number;
  audioBytes: number;
  packets: number;
  lost: number;
  frames: number;
}

function level(rttMs: number, lossPct: number, flowing: boolean): string {
  if (!flowing) return "Die";
  if (lossPct < 1 && rttMs < 100) return "Excellent";
  if (lossPct < 3 && rttMs < 200) return "Good";
  if (lossPct < 8 && rttMs < 400) return "Medium";
  return "Bad";
}

/** Samples one leg's stats; each call reports the interval since the last. */
export class StatsSampler {
  private last: Counters | null = null;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly direction: "outbound" | "inbound",
  ) {}

  async sample(): Promise<Quality> {
    const report = await this.pc.getStats();
    const byId = new Map<string, Record<string, unknown>>();
    report.forEach((s: Record<string, unknown>) => byId.set(String(s.id), s));
    const now: Counters = { at: performance.now(), videoBytes: 0, audioBytes: 0, packets: 0, lost: 0, frames: 0 };
    const q: Quality = {
      width: 0,
      height: 0,
      fps: 0,
      video_kbps: 0,
      audio_kbps: 0,
      rtt_ms: 0,
      packet_loss_pct: 0,
      codec: "",
      level: "Die",
      path: selectedPath(byId),
    };
    const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
    let rtt = -1;
    let remoteLost = 0;
    for (const s of byId.values()) {
      const type = s.type;
      const kind = s.kind;
      if (type === `${this.direction}-rtp`) {
        const bytes = num(this.direction === "outbound" ? s.bytesSent : s.bytesReceived);
        if (kind === "video") {
          now.videoBytes += bytes;
          now.frames += num(this.direction === "outbound" ? s.framesEncoded : s.framesDecoded);
          q.width = num(s.frameWidth) || q.width;
          q.height = num(s.frameHeight) || q.height;
          const codec = byId.get(String(s.codecId));
          if (codec) q.codec = String(codec.mimeType ?? "");
        } else if (kind === "audio") {
          now.audioBytes += bytes;
        }
        if (this.direction === "inbound") {
          now.packets += num(s.packetsReceived);
          now.lost += Math.max(0, num(s.packetsLost));
        } else {
          now.packets += num(s.packetsSent);
        }
      } else if (type === "remote-inbound-rtp" && this.direction === "outbound") {
        remoteLost += Math.max(0, num(s.packetsLost));
        if (typeof s.roundTripTime === "number") rtt = Math.max(rtt, s.roundTripTime * 1000);
      } else if (type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        if (typeof s.currentRoundTripTime === "number" && rtt < 0) rtt = s.currentRoundTripTime * 1000;
      }
    }
    if (this.direction === "outbound") now.lost = remoteLost;
    const prev = this.last;
    this.last = now;
    q.rtt_ms = Math.max(0, Math.round(rtt));
    if (prev) {
      const secs = Math.max(0.001, (now.at - prev.at) / 1000);
      q.video_kbps = Math.round(((now.videoBytes - prev.videoBytes) * 8) / secs / 1000);
      q.audio_kbps = Math.round(((now.audioBytes - prev.audioBytes) * 8) / secs / 1000);
      q.fps = Math.round(((now.frames - prev.frames) / secs) * 10) / 10;
      const packets = now.packets - prev.packets;
      const lost = now.lost - prev.lost;
      const expected = this.direction === "inbound" ? packets + lost : packets;
      q.packet_loss_pct = expected > 0 ? Math.round((Math.max(0, lost) / expected) * 1000) / 10 : 0;
    }
    q.level = level(q.rtt_ms, q.packet_loss_pct, q.video_kbps + q.audio_kbps > 0);
    return q;
  }
}
