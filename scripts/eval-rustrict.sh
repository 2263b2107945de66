#!/usr/bin/env bash
# Scores the monitor's built-in lexicons on the labelled test fixtures that
# ship inside the rustrict crate (a chat profanity filter), without keeping
# any of its data here: cargo fetches a pinned version into a temporary
# CARGO_HOME, and crates/monitor/examples/rustrict_fixtures.rs reads the
# files from there. Prints a Markdown table.
#
#   scripts/eval-rustrict.sh            # rustrict 0.7.39
#   RUSTRICT_VERSION=0.7.38 scripts/eval-rustrict.sh
#
# Honour CARGO_TARGET_DIR as usual for the build of the example.
set -euo pipefail

version="${RUSTRICT_VERSION:-0.7.39}"
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# A throwaway package that depends on the pinned crate; `cargo fetch` is the
# ordinary way to download it (and its two small dependencies).
mkdir -p "$tmp/probe/src"
cat > "$tmp/probe/Cargo.toml" <<TOML
[package]
name = "rustrict-fixtures-probe"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
rustrict = { version = "=$version", default-features = false }

[workspace]
TOML
: > "$tmp/probe/src/lib.rs"
CARGO_HOME="$tmp/cargo-home" cargo fetch --quiet --manifest-path "$tmp/probe/Cargo.toml"

src="$(find "$tmp/cargo-home/registry/src" -maxdepth 2 -type d -name "rustrict-$version" | head -n 1)/src"
for f in test_positive.txt test_negative.txt test_safe.txt safe.txt false_positives.txt; do
  [[ -f "$src/$f" ]] || { echo "eval-rustrict: $f not found in rustrict $version" >&2; exit 1; }
done

echo "## Tutela monitor on rustrict $version's fixtures"
echo
cargo run --quiet --manifest-path "$root/Cargo.toml" -p tutela-monitor --example rustrict_fixtures -- \
  --positive "$src/test_positive.txt" \
  --negative "$src/test_negative.txt" \
  --negative "$src/test_safe.txt" \
  --negative "$src/safe.txt" \
  --negative "$src/false_positives.txt" \
  "$@"
