#!/usr/bin/env bash
# Tutela's proxy against squid (and optionally e2guardian) in one run of the
# shared harness (../shared/bench/peers): same nginx origin, same ~2.8M-domain
# list, same wrk runs (absolute-form GETs for a 4 KB page, 2 threads x 50
# keep-alive connections). Results: $WORK/results/proxy-summary.tsv (WORK
# defaults to /tmp/peerbench).
#   scripts/bench-proxy.sh                       # direct, squid, then tutela
#   PEERS="direct squid e2guardian" scripts/bench-proxy.sh
#   TUTELA_MONITOR=off scripts/bench-proxy.sh    # page-text scanning off
#   HTTP_THREADS=1 HTTP_CONNS=1 scripts/bench-proxy.sh   # unloaded latency
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
peers_dir=${PEERS_DIR:-$here/../shared/bench/peers}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
cargo build --release -p tutela --manifest-path "$here/Cargo.toml"
export TUTELA_BIN="$CARGO_TARGET_DIR/release/tutela"
export PROJECT_PROXY_CMD="$here/scripts/proxy-peer.sh --listen 127.0.0.1:\$PROJECT_PROXY_PORT --blocklist \$BLOCKLIST"
export PROJECT_VERSION="tutela $(git -C "$here" rev-parse --short HEAD)"
cd "$peers_dir"
./install.sh
PEERS="${PEERS:-direct squid} project" ./proxy/bench-all.sh
column -t -s $'\t' "${WORK:-/tmp/peerbench}/results/proxy-summary.tsv"
