# Confer: `make run` builds and starts the desktop app, `make test` installs
# what is missing and runs every test.
CARGO ?= cargo
CONFIG ?= $(HOME)/.config/confer/server.toml
ARTIFACTS ?= $(CURDIR)/artifacts
XVFB := xvfb-run -a -s "-screen 0 1280x800x24"
export CONFER_ARTIFACTS := $(ARTIFACTS)
export TAURI_DRIVER := $(abspath $(or $(CARGO_TARGET_DIR),target))/tools/bin/tauri-driver

.PHONY: run serve test deps ui web build contract lint audit fmt ui-test browser-test fuzz fuzz-test bench bench-abuse bench-failover bench-janus bench-networks bench-network bench-app bench-browser dist test-dist bench-dist clean

deps:
	@bash scripts/deps.sh

## The app's web UI (TypeScript -> ui/dist, embedded in the app binary).
ui: deps
	cd ui && npm run --silent build

## The server's web debug page (TypeScript -> server/web/dist, embedded in
## the server binary; without it the server embeds a placeholder page).
web: deps
	node server/web/build.mjs

build: ui web
	$(CARGO) build --bin confer
	$(CARGO) build -p confer-app

## Start the desktop app (it embeds the server: "Host a call").
run: build
	$(CARGO) run --quiet -p confer-app

## Start only the room server with a local config (generated on first run).
serve: web
	$(CARGO) run --quiet --bin confer -- serve --config $(CONFIG)

## The TypeScript contract (contract/ts, which the ui and web builds copy
## into their git-ignored src/generated) regenerated from the Rust types;
## lint fails when the checked-in files differ (or are missing from git).
GENERATED := contract/ts
contract:
	$(CARGO) run --quiet -p contract
	@if [ -n "$$(git status --porcelain --untracked-files=all -- $(GENERATED))" ]; then \
		git status --short -- $(GENERATED); git --no-pager diff --stat -- $(GENERATED); \
		echo "lint: the generated TypeScript contract differs from git: commit what \`cargo run -p contract\` wrote"; \
		exit 1; \
	fi

lint: contract ui web
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --workspace --quiet
	rustfmt --edition 2021 --check fuzz/build.rs fuzz/src/targets.rs fuzz/tests/replay.rs fuzz/fuzz_targets/*.rs

## UI unit tests (node --test), then the smoke checks: the built UI in
## headless Chromium against the dev mock (layouts, pins, shortcuts, no
## overlapping tiles).
ui-test: ui
	cd ui && npm test
	cd ui && node --experimental-websocket dev/smoke.mjs

## The web page's engine (server/web/src/engine.ts) replays every golden
## transcript of media-core's room session (media-core/tests/fixtures/
## transcripts; the session's Rust tests fail when they are stale) in node,
## with a fake socket, clock and media legs.
WEB_TEST_OUT := $(abspath $(or $(CARGO_TARGET_DIR),target))/web-test
.PHONY: web-test
web-test: web
	rm -rf $(WEB_TEST_OUT)
	ui/node_modules/.bin/tsc -p server/web/test/tsconfig.json --outDir $(WEB_TEST_OUT)
	echo '{"type":"module"}' > $(WEB_TEST_OUT)/package.json
	CONFER_TRANSCRIPTS=$(CURDIR)/media-core/tests/fixtures/transcripts node --test $(WEB_TEST_OUT)/test/*.test.js

## Every test: format, lints, UI unit tests, browser interop tests, Rust unit
## + property tests, system tests on loopback, the app E2E (under Xvfb so
## native windows exist), then the installable release and its updates.
test: lint ui-test browser-test web-test
	mkdir -p $(ARTIFACTS)
	$(XVFB) $(CARGO) test --workspace
	$(MAKE) --no-print-directory fuzz-test
	$(MAKE) --no-print-directory test-dist

## Fuzzing every decoder that faces the network (fuzz/, coverage-guided
## libFuzzer on the stable toolchain, see scripts/fuzz.sh): `make test`
## replays every saved crash and seed, then fuzzes each target briefly;
## `make fuzz` fuzzes each for FUZZ_SECONDS. A crash fails the run and its
## input stays in fuzz/regressions/<target>/ (commit it with the fix).
FUZZ_TEST_SECONDS ?= 8
FUZZ_SECONDS ?= 60
fuzz-test:
	bash scripts/fuzz.sh replay
	bash scripts/fuzz.sh run $(FUZZ_TEST_SECONDS)

fuzz:
	bash scripts/fuzz.sh replay
	bash scripts/fuzz.sh run $(FUZZ_SECONDS)

## Release bundles (Tauri bundler, release build): target/release/bundle/deb/
## here; with TAURI_SIGNING_PRIVATE_KEY(+_PASSWORD) set they are signed and
## target/release/bundle/feed/ is an update feed for `confer serve
## --update-feed`. DIST_BUNDLES=deb,appimage,rpm where those tools exist.
dist: ui
	@bash scripts/dist.sh

## The installable release end to end, as root under Xvfb: debug .debs of
## version N and N+1 signed with a throwaway key, dpkg install, home screen,
## the app's updater against a loopback feed (not newer, unreachable,
## tampered, truncated, good -> N+1 running), dpkg purge. Skipped (with a
## message) when not root or without dpkg, since it installs into the machine.
test-dist: ui
	@bash scripts/test-dist.sh

## Release .deb size (= the update download); the update timing comes from
## `make test-dist`.
bench-dist: dist

## Headless Chromium (Debian package) on the web debug page against native
## `confer call` participants; screenshots go to $(ARTIFACTS).
browser-test: web
	$(CARGO) build --bin confer
	mkdir -p $(ARTIFACTS)
	cd tests/browser && npm test

## Benchmarks print one figure per line (release build).
bench: deps
	$(CARGO) bench --bench login
	$(CARGO) bench --bench signaling_scale
	$(CARGO) bench --bench codec
	$(CARGO) bench --bench media
	$(CARGO) bench --bench first_frame
	$(CARGO) bench --bench sfu_mux
	$(CARGO) bench --bench audio_processing
	$(CARGO) bench --bench screen_share
	$(MAKE) bench-networks
	$(MAKE) bench-network
	$(CARGO) bench -p turn-server --bench relay
	$(MAKE) bench-abuse
	$(MAKE) bench-app
	$(MAKE) bench-browser
	$(MAKE) bench-dist

## Licences, sources and bans (deny.toml) with cargo-deny (built once into
## the target dir's tools); security advisories too where the RustSec
## database can be fetched (it comes from GitHub, which CI cannot reach).
TOOLS := $(abspath $(or $(CARGO_TARGET_DIR),target))/tools
DENY := $(TOOLS)/bin/cargo-deny
audit:
	@[ -x $(DENY) ] || $(CARGO) install cargo-deny --locked --quiet --root $(TOOLS)
	$(DENY) check licenses bans sources
	$(DENY) check advisories || echo "audit: advisories skipped: the RustSec database could not be fetched"

## Issue 12's figures: a half-open flood under ulimit -n 1024 (held open
## over time, server fds and RSS) and a client frozen past the heartbeat
## timeout (new login and frames again, p50/max).
bench-abuse:
	$(CARGO) bench --bench abuse

## Issue 18's failover time: three nodes on one Redis (2 s lease), the
## room's node SIGKILLed 20 times (10 min at most), kill -> the player's next frame p50/p99.
bench-failover:
	$(CARGO) bench --bench failover

## Issue 18's side-by-side fan-out: confer bench, 100 rooms x (1 WHIP
## publisher + 3 WHEP players), against one confer serve and against Janus's
## videoroom (installs the Debian janus package if missing).
bench-janus:
	$(CARGO) build --release --bin confer
	bash scripts/bench-janus.sh

## Issue 13's figures in network namespaces (root): login to first remote
## frame and glass-to-glass at 720p30, direct UDP vs TURN over UDP, TCP and
## TLS vs ICE-TCP, in one run.
bench-networks:
	$(CARGO) bench --bench real_networks

## Issue 15's figures through the impairment relay, native -> native and
## Chromium -> Chromium through the same SFU in one run: loss, bursty loss,
## a capacity step, steady capacities, one weak player among three clean
## ones. BENCH_SECONDS (default 60) is each scenario's window.
bench-network: web
	$(CARGO) bench --bench network

## The desktop app's figures (release app under Xvfb, driven by tauri-driver).
bench-app: ui
	$(CARGO) build --release --bin confer
	$(XVFB) $(CARGO) bench -p confer-app --bench app

## Glass-to-glass latency browser -> native, native -> browser and native ->
## native in one run (release `confer`, headless Chromium).
bench-browser: web
	$(CARGO) build --release --bin confer
	cd tests/browser && CONFER_BIN=$(abspath $(or $(CARGO_TARGET_DIR),target))/release/confer node bench.mjs

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
