#!/usr/bin/env bash
# Runs `tutela serve` as a proxy peer for the shared benchmark harness
# (../shared/bench/peers, PROJECT_PROXY_CMD): blocks every name in a flat
# domain list (and its subdomains) and proxies the rest, including the
# harness's origin on loopback.
#   scripts/proxy-peer.sh --listen 127.0.0.1:13130 --blocklist FILE
# Access events go to SQLite in a scratch folder, as with `serve`'s defaults,
# and the safeguarding monitor scans every page (TUTELA_MONITOR=off: not).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
listen="" blocklist=""
while (($#)); do
  case $1 in
    --listen) listen=$2; shift 2;;
    --blocklist) blocklist=$2; shift 2;;
    *) echo "proxy-peer.sh: unknown argument $1" >&2; exit 2;;
  esac
done
[[ -n $listen && -n $blocklist ]] || { echo "usage: proxy-peer.sh --listen ADDR --blocklist FILE" >&2; exit 2; }
work=${TUTELA_PEER_DIR:-/tmp/tutela-proxy-peer}
rm -rf "$work"; mkdir -p "$work"
cat > "$work/tutela.toml" <<CONF
data_dir = "$work/data"
[listeners]
dns = "127.0.0.1:0"
proxy = "$listen"
console = "127.0.0.1:0"
[lists]
sources = [{ name = "bench", path = "$(realpath "$blocklist")", format = "domains", category = "adult" }]
[policy.groups.pupils]
block_categories = ["adult"]
[proxy]
# The harness's origin (nginx) listens on loopback.
allowed_internal = ["127.0.0.0/8"]
[monitor]
enabled = $([[ ${TUTELA_MONITOR:-on} == off ]] && echo false || echo true)
CONF
bin=${TUTELA_BIN:-$here/target/release/tutela}
exec "$bin" --config "$work/tutela.toml" serve
