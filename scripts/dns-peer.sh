#!/usr/bin/env bash
# Runs `tutela serve` as a DNS peer for the shared benchmark harness
# (../shared/bench/peers, PROJECT_DNS_CMD): blocks every name in a flat
# domain list (and its subdomains) with NXDOMAIN and forwards the rest.
#   scripts/dns-peer.sh --listen 127.0.0.1:15310 --blocklist FILE --upstream 127.0.0.1:15300
# Access events go to SQLite in a scratch folder, as with `serve`'s defaults.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
listen="" blocklist="" upstream=""
while (($#)); do
  case $1 in
    --listen) listen=$2; shift 2;;
    --blocklist) blocklist=$2; shift 2;;
    --upstream) upstream=$2; shift 2;;
    *) echo "dns-peer.sh: unknown argument $1" >&2; exit 2;;
  esac
done
[[ -n $listen && -n $blocklist && -n $upstream ]] || { echo "usage: dns-peer.sh --listen ADDR --blocklist FILE --upstream ADDR" >&2; exit 2; }
work=${TUTELA_PEER_DIR:-/tmp/tutela-dns-peer}
rm -rf "$work"; mkdir -p "$work"
cat > "$work/tutela.toml" <<CONF
data_dir = "$work/data"
[listeners]
dns = "$listen"
proxy = "127.0.0.1:0"
console = "127.0.0.1:0"
[lists]
sources = [{ name = "bench", path = "$(realpath "$blocklist")", format = "domains", category = "adult" }]
[policy.groups.pupils]
block_categories = ["adult"]
dns_block = "nxdomain"
[dns]
upstreams = ["$upstream"]
client_rate_limit = 0
CONF
bin=${TUTELA_BIN:-$here/target/release/tutela}
exec "$bin" --config "$work/tutela.toml" serve
