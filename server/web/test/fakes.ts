// A shell for WebEngine without a browser: a clock whose timers run only
// when told (as the native session's handle_timeout(now)), sockets and
// media legs that log what the engine does with them and let a test report
// what happens to them.

import type { EngineShell, MediaLeg, SignalSocket, SocketEvents, Timer } from "../src/engine.js";
import type { LegEvents } from "../src/media.js";
import type { IceCandidate, MediaRole, VideoLayer } from "../src/protocol.js";

/** What the engine did, as the native session's outputs name it. */
export type Done =
  | { kind: "connect"; conn: number; url: string }
  | { kind: "send"; conn: number; msg: Record<string, unknown> }
  | { kind: "close"; conn: number }
  | { kind: "negotiate"; stream_id: string; role: MediaRole; ice_servers: RTCIceServer[] }
  | { kind: "answer"; stream_id: string; role: MediaRole; sdp: string }
  | { kind: "remote_candidate"; stream_id: string; role: MediaRole; candidate: IceCandidate }
  | { kind: "close_transport"; stream_id: string; role: MediaRole }
  | { kind: "video_layers"; stream_id: string; active: VideoLayer[] };

interface Pending {
  at: number;
  f: () => void;
  every: number | null;
}

/** Timers that run only in `runTo`, with the clock at that time. */
export class FakeClock {
  private t = 0;
  private nextId = 1;
  private readonly timers = new Map<number, Pending>();

  now(): number {
    return this.t;
  }

  add(f: () => void, ms: number, every: number | null): Timer {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), f, every });
    return id;
  }

  clear(t: Timer): void {
    this.timers.delete(t);
  }

  /** An input arrives at `t`: the clock moves, no timer runs. */
  set(t: number): void {
    this.t = Math.max(this.t, t);
  }

  /** Runs every timer due at `t` (earliest first), the clock at `t`. */
  runTo(t: number): void {
    this.set(t);
    for (let guard = 0; guard < 100_000; guard++) {
      let next: [number, Pending] | null = null;
      for (const entry of this.timers) {
        if (entry[1].at <= t && (next === null || entry[1].at < next[1].at)) next = entry;
      }
      if (next === null) return;
      const [id, timer] = next;
      if (timer.every === null) this.timers.delete(id);
      else timer.at += timer.every;
      timer.f();
    }
    throw new Error("timers keep falling due");
  }
}

/** A signaling connection the test opens, feeds and drops. */
export class FakeSocket implements SignalSocket {
  open = false;
  private closed = false;

  constructor(
    readonly conn: number,
    private readonly events: SocketEvents,
    private readonly log: Done[],
  ) {}

  send(data: string): void {
    this.log.push({ kind: "send", conn: this.conn, msg: JSON.parse(data) as Record<string, unknown> });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.open = false;
    this.log.push({ kind: "close", conn: this.conn });
  }

  receive(msg: unknown): void {
    if (!this.closed) this.events.message(JSON.stringify(msg));
  }

  drop(): void {
    this.open = false;
    if (!this.closed) this.events.closed();
  }
}

/** A peer connection whose offer, connection and failure the test decides. */
export class FakeLeg implements MediaLeg {
  readonly pc = null;
  closed = false;
  private offered: ((sdp: string) => void) | null = null;

  constructor(
    readonly role: MediaRole,
    readonly streamId: string,
    readonly events: LegEvents,
    private readonly log: Done[],
  ) {}

  private offer(): Promise<string> {
    return new Promise((resolve) => {
      this.offered = resolve;
    });
  }

  offerPublish(): Promise<string> {
    return this.offer();
  }

  offerPlay(): Promise<string> {
    return this.offer();
  }

  /** The media side made its offer. */
  offers(sdp: string): void {
    this.offered?.(sdp);
    this.offered = null;
  }

  async acceptAnswer(sdp: string): Promise<void> {
    this.log.push({ kind: "answer", stream_id: this.streamId, role: this.role, sdp });
  }

  async addRemoteCandidate(candidate: IceCandidate): Promise<void> {
    this.log.push({ kind: "remote_candidate", stream_id: this.streamId, role: this.role, candidate });
  }

  async replace(): Promise<void> {}

  setActiveLayers(active: VideoLayer[]): void {
    this.log.push({ kind: "video_layers", stream_id: this.streamId, active });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.log.push({ kind: "close_transport", stream_id: this.streamId, role: this.role });
  }
}

/** The fake shell and what it saw. */
export class FakeShell {
  readonly clock = new FakeClock();
  /** What the engine did since the last `take`. */
  private readonly log: Done[] = [];
  readonly sockets: FakeSocket[] = [];
  /** The latest leg of each `role:stream`. */
  readonly legs = new Map<string, FakeLeg>();

  readonly shell: EngineShell = {
    now: () => this.clock.now(),
    setTimeout: (f, ms) => this.clock.add(f, ms, null),
    clearTimeout: (t) => this.clock.clear(t),
    setInterval: (f, ms) => this.clock.add(f, ms, Math.max(1, ms)),
    clearInterval: (t) => this.clock.clear(t),
    openSocket: (url, events) => {
      const socket = new FakeSocket(this.sockets.length + 1, events, this.log);
      this.sockets.push(socket);
      this.log.push({ kind: "connect", conn: socket.conn, url });
      return socket;
    },
    openLeg: (role, streamId, iceServers, events) => {
      this.log.push({ kind: "negotiate", stream_id: streamId, role, ice_servers: iceServers });
      const leg = new FakeLeg(role, streamId, events, this.log);
      this.legs.set(`${role}:${streamId}`, leg);
      return leg;
    },
    newStream: () => ({ getTracks: () => [], addTrack: () => {}, removeTrack: () => {} }) as unknown as MediaStream,
  };

  socket(conn: number): FakeSocket {
    const s = this.sockets[conn - 1];
    if (!s) throw new Error(`no connection ${conn}`);
    return s;
  }

  /** What the engine did since the last `take`, left there. */
  peek(): readonly Done[] {
    return this.log;
  }

  /** What the engine did since the last call. */
  take(): Done[] {
    return this.log.splice(0);
  }
}
