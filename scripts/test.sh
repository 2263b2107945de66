#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test.
# README.md and .ci/run both call this script, so they cannot drift apart.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use: dig (DNS, DoT and DoH client) for the DNS
# filter's end-to-end tests; curl, openssl and headless Chromium (with its
# driver, for the console's browser tests) for the proxy's.
need_packages=(bind9-dnsutils curl openssl chromium chromium-driver)
if [ ${#need_packages[@]} -gt 0 ]; then
  missing=()
  for p in "${need_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# One target dir shared between runs and clones keeps rebuilds quick.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tutela/target}"
# Tests that need PostgreSQL read this; the rust-svc machine runs it here.
export TUTELA_TEST_DATABASE_URL="${TUTELA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

if [ ! -f ../shared/data/ut1/global_usage ] && [ -z "${TUTELA_UT1:-}" ]; then
  echo "error: the UT1 test lists are missing: put the shared/ folder beside this checkout (../shared/data/ut1) or set TUTELA_UT1" >&2
  exit 1
fi

cargo test --workspace --locked "$@"
