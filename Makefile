# Confer: `make run` starts it, `make test` installs what is missing and runs every test.
CARGO ?= cargo
CONFIG ?= $(HOME)/.config/confer/server.toml
ARTIFACTS ?= $(CURDIR)/artifacts

.PHONY: run test deps build lint fmt unit bench clean

deps:
	@bash scripts/deps.sh

build: deps
	$(CARGO) build --bin confer

## Start the room server with a local config (generated on first run); prints URL, AppID and AppSign.
run: build
	$(CARGO) run --quiet --bin confer -- serve --config $(CONFIG)

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Every test: format, lints, unit + property tests, system tests on loopback.
## Under Xvfb so the native-window render test draws into a real X window.
test: lint
	mkdir -p $(ARTIFACTS)
	xvfb-run -a -s "-screen 0 1280x800x24" $(CARGO) test --workspace

## Benchmarks print one figure per line (release build).
bench: deps
	$(CARGO) bench --bench login
	$(CARGO) bench --bench signaling_scale
	$(CARGO) bench --bench codec
	$(CARGO) bench --bench media

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
