// The host's "Reachability" section (pure): what to forward on a home router,
// and the words for `check_reachability`'s results (`confer doctor`'s checks).

import type { HostScope, ReachabilityCheck, ReachabilityStep } from "./types.js";

/** Each check's name for people (the app sends `confer doctor`'s step names). */
export const STEP_LABELS: Readonly<Record<ReachabilityStep, string>> = {
  dns: "DNS",
  tcp: "TCP",
  tls: "TLS",
  websocket: "WebSocket",
  login: "Login",
  "udp-media": "UDP media",
  "turn-udp": "TURN (UDP)",
  "turn-tcp": "TURN (TCP)",
  "turn-tls": "TURN (TLS)",
};

/** Who can reach the hosted call, and what a host behind a router forwards for people outside its network. */
export function forwardText(forward: { tcp: number; udp: number | null } | null, scope: HostScope): string {
  if (scope === "this_computer") return "Only this computer can join: you chose “Only this computer”. To invite others, leave and host for “People on my network”.";
  if (!forward) return "People on your network can join with the link.";
  const udp = forward.udp !== null ? ` and UDP ${forward.udp}` : "";
  const unknown = forward.udp === null ? " (the UDP media port is not known yet: calls from outside may be relayed or fail)" : "";
  return `People on your network can join with the link. For people outside your network: forward TCP ${forward.tcp}${udp} on your router to this computer${unknown}.`;
}

/** One line for the results' summary: "All 6 checks passed" / "5 of 6 checks passed. Failed: TURN". */
export function reachSummary(checks: readonly ReachabilityCheck[]): string {
  if (checks.length === 0) return "No checks ran.";
  const failed = checks.filter((c) => !c.ok);
  if (failed.length === 0) return checks.length === 1 ? "The check passed." : `All ${checks.length} checks passed.`;
  const passed = checks.length - failed.length;
  return `${passed} of ${checks.length} checks passed. Failed: ${failed.map((c) => STEP_LABELS[c.name]).join(", ")}.`;
}

/** "12 ms", "1.4 s". */
export function elapsedText(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The results as plain text (Copy), one check a line, like `confer doctor` prints them. */
export function reachReport(checks: readonly ReachabilityCheck[]): string {
  return checks
    .map((c) => {
      const code = c.ok ? "" : ` [code ${c.code}]`;
      const detail = c.detail ? ` — ${c.detail}` : "";
      return `${c.ok ? "PASS" : "FAIL"} ${STEP_LABELS[c.name]} ${c.target}${code}${detail} (${elapsedText(c.elapsed_ms)})`;
    })
    .join("\n");
}
