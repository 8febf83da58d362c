#!/usr/bin/env bash
# Issue 18's side-by-side fan-out figure: `confer bench` (release) against
# one local `confer serve`, then the same rooms, players and pre-encoded
# media against Janus 1.1's videoroom plugin (its HTTP API). Installs the
# Debian `janus` package if it is missing (this bench only, not make deps).
# ROOMS, PLAYERS, BENCH_SECONDS override the defaults (100 rooms x (1 + 3), 10 s).
set -euo pipefail
ROOMS=${ROOMS:-100}
PLAYERS=${PLAYERS:-3}
SECONDS_COUNTED=${BENCH_SECONDS:-10}
BIN=${CONFER_BIN:-target/release/confer}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v janus >/dev/null; then
	if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
	$SUDO apt-get install -y janus
fi
# Media on the host's address: Janus (libnice) gathers no loopback candidates.
HOST_IP=$(ip -4 route get 192.0.2.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')
HOST_IP=${HOST_IP:-127.0.0.1}
COMMON=(--rooms "$ROOMS" --publishers 1 --players "$PLAYERS" --seconds "$SECONDS_COUNTED")

echo "== confer serve (load: $(cut -d' ' -f1-3 /proc/loadavg))"
"$BIN" serve --config "$WORK/server.toml" --bind 127.0.0.1:17980 --media-ip 127.0.0.1 >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
SERVE=$!
sleep 2
APP_ID=$(awk -F' = ' '/^app_id/ {print $2; exit}' "$WORK/server.toml")
ADMIN=$("$BIN" admin-token --app-id "$APP_ID" --config "$WORK/server.toml")
"$BIN" bench --server http://127.0.0.1:17980 --admin-token "$ADMIN" --server-pid "$SERVE" \
	"${COMMON[@]}" 2>/dev/null | grep -v '^player '
kill "$SERVE"

echo "== Janus videoroom (load: $(cut -d' ' -f1-3 /proc/loadavg))"
janus -F /etc/janus -r 30000-40000 -L "$WORK/janus.log" >/dev/null 2>&1 &
PIDS+=($!)
JANUS=$!
for _ in $(seq 50); do
	curl -sf -o /dev/null http://127.0.0.1:8088/janus/info && break
	sleep 0.2
done
"$BIN" bench --janus --server http://127.0.0.1:8088/janus --admin-token unused --server-pid "$JANUS" \
	--media-ip "$HOST_IP" "${COMMON[@]}" 2>/dev/null | grep -v '^player '
