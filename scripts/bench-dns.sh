#!/usr/bin/env bash
# Tutela's DNS filter against unbound (and optionally more peers) in one run
# of the shared harness (../shared/bench/peers): same ~2.8M-domain list, same
# stub upstream, same dnsperf runs. Results: $WORK/results/dns-summary.tsv
# (WORK defaults to /tmp/peerbench).
#   scripts/bench-dns.sh                 # unbound, then tutela
#   PEERS="unbound dnsmasq" scripts/bench-dns.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
peers_dir=${PEERS_DIR:-$here/../shared/bench/peers}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
cargo build --release -p tutela --manifest-path "$here/Cargo.toml"
export TUTELA_BIN="$CARGO_TARGET_DIR/release/tutela"
export PROJECT_DNS_CMD="$here/scripts/dns-peer.sh --listen 127.0.0.1:\$PROJECT_DNS_PORT --blocklist \$BLOCKLIST --upstream 127.0.0.1:\$STUB_PORT"
export PROJECT_VERSION="tutela $(git -C "$here" rev-parse --short HEAD)"
cd "$peers_dir"
./install.sh
for p in ${PEERS:-unbound} project; do
  ./dns/bench.sh "$p"
done
column -t -s $'\t' "${WORK:-/tmp/peerbench}/results/dns-summary.tsv"
