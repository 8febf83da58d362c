#!/usr/bin/env bash
# Coverage-guided fuzzing on the stable toolchain (issue 14 part 5).
#
#   scripts/fuzz.sh replay             every saved input (regressions/,
#                                      seeds/) through its target, as a
#                                      plain `cargo test` (no libFuzzer)
#   scripts/fuzz.sh build              build every target with libFuzzer
#   scripts/fuzz.sh run SECONDS [T..]  fuzz each target (all by default)
#                                      for SECONDS; a crash fails the run
#                                      and is kept in fuzz/regressions/<T>/
#
# What `cargo fuzz build -s none` does, without cargo-fuzz: libfuzzer-sys
# (libFuzzer, built from source by its build script with the system C++
# compiler) plus rustc's sanitizer-coverage passes, which stable rustc
# accepts through -Cpasses/-Cllvm-args (no -Z flag, no nightly). The
# explicit --target keeps RUSTFLAGS off build scripts and proc macros, and
# the own target dir keeps the workspace's cache untouched.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_BASE=${CARGO_TARGET_DIR:-target}
case $TARGET_BASE in /*) ;; *) TARGET_BASE=$ROOT/$TARGET_BASE ;; esac
cd "$ROOT/fuzz"

TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=$TARGET_BASE/fuzz
replay() {
    # Uninstrumented: RUSTFLAGS is for the libFuzzer build only.
    env -u RUSTFLAGS cargo test --quiet
}

export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
BIN=$CARGO_TARGET_DIR/$TRIPLE/release
TARGETS=(signaling token rtp_forward rtcp sdp_announce stun_check barcode turn_server turn_frame)

build() {
    local start=$SECONDS
    cargo build --release --features libfuzzer --target "$TRIPLE" --bins
    echo "fuzz: built ${#TARGETS[@]} targets in $((SECONDS - start)) s"
}

run() {
    local seconds=$1
    shift
    local targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${TARGETS[@]}")
    build
    local failed=()
    for t in "${targets[@]}"; do
        local corpus=$CARGO_TARGET_DIR/corpus/$t
        local regressions=$PWD/regressions/$t
        mkdir -p "$corpus" "$regressions" "seeds/$t"
        local log=$CARGO_TARGET_DIR/$t.log
        # Signaling frames may be up to 16 KiB (MAX_MESSAGE_BYTES): go past it.
        local max_len=4096
        [ "$t" = signaling ] && max_len=20000
        # The corpus grows in target/fuzz/corpus; seeds/ and regressions/
        # are read-only inputs; a crash lands in regressions/<t>/.
        if "$BIN/$t" "$corpus" "seeds/$t" "$regressions" \
            -max_total_time="$seconds" -max_len=$max_len -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$regressions/" >"$log" 2>&1; then
            status=ok
        else
            status=CRASH
            failed+=("$t")
        fi
        local execs rate
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        local cov
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
        echo "fuzz: $t: $status, ${execs:-?} runs in ${seconds} s, ${rate:-?} exec/s, ${cov:-cov: ?}"
        if [ "$status" = CRASH ]; then
            grep -E "panicked|ERROR: libFuzzer|Test unit written" "$log" | head -5
        fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
        echo "fuzz: crashes in: ${failed[*]} (inputs in fuzz/regressions/; logs in $CARGO_TARGET_DIR/*.log)"
        exit 1
    fi
}

case "${1:-}" in
    replay) replay ;;
    build) build ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 replay | build | run SECONDS [TARGET..]" >&2; exit 2 ;;
esac
