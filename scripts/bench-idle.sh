#!/usr/bin/env bash
# 10,000 idle (slowloris) connections against the proxy: are other requests
# still served, and how fast? Baseline with none open, then with 10,000.
#   scripts/bench-idle.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
cargo build --release -p tutela --manifest-path "$here/Cargo.toml" >&2
work=${WORK:-/tmp/tutela-idle-bench}
rm -rf "$work"; mkdir -p "$work/www"
echo hello > "$work/www/page.txt"
cat > "$work/tutela.toml" <<CONF
data_dir = "$work/data"
[listeners]
dns = "127.0.0.1:0"
proxy = "127.0.0.1:13132"
console = "127.0.0.1:0"
[lists]
sources = []
[proxy]
allowed_internal = ["127.0.0.0/8"]
# One address opens them all here; the default per-client cap (512) would
# refuse most of them, which is the point of it, but not what is measured.
max_connections_per_client = 20000
header_timeout = "60s"
CONF
python3 -m http.server 18099 --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 & origin=$!
bash -c "ulimit -n 20000; exec '$CARGO_TARGET_DIR/release/tutela' --config '$work/tutela.toml' serve" 2> "$work/tutela.log" & proxy=$!
trap 'kill $origin $proxy 2>/dev/null' EXIT
sleep 3
python3 "$here/scripts/idle-connections.py" 13132 0 http://127.0.0.1:18099/page.txt
python3 "$here/scripts/idle-connections.py" 13132 10000 http://127.0.0.1:18099/page.txt
echo "proxy RSS with 10,000 idle connections: $(( $(ps -o rss= -p $proxy) / 1024 )) MiB"
