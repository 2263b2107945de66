#!/usr/bin/env bash
# CONNECT tunnel throughput: a 256 MiB download over TLS from a local nginx,
# direct and through Tutela's proxy (spliced, not inspected), in one run.
# Prints MB/s for each (median of 5) and the ratio.
#   scripts/bench-tunnel.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
cargo build --release -p tutela --manifest-path "$here/Cargo.toml" >&2
bin=$CARGO_TARGET_DIR/release/tutela
work=${WORK:-/tmp/tutela-tunnel-bench}
rm -rf "$work"; mkdir -p "$work/www" "$work/tmp"
head -c $((256 << 20)) /dev/urandom > "$work/www/big.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=tunnel.example -addext subjectAltName=DNS:tunnel.example \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server {
    listen 127.0.0.1:18443 ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    root $work/www;
  }
}
CONF
cat > "$work/tutela.toml" <<CONF
data_dir = "$work/data"
[listeners]
dns = "127.0.0.1:0"
proxy = "127.0.0.1:13131"
console = "127.0.0.1:0"
[lists]
sources = []
[proxy]
allowed_internal = ["127.0.0.0/8"]
connect_ports = [18443]
[proxy.hosts]
"tunnel.example" = "127.0.0.1"
CONF
nginx -c "$work/nginx.conf" & nginx_pid=$!
"$bin" --config "$work/tutela.toml" serve 2> "$work/tutela.log" & tutela_pid=$!
trap 'kill $nginx_pid $tutela_pid 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -s -o /dev/null --cacert "$work/cert.pem" --resolve tunnel.example:18443:127.0.0.1 https://tunnel.example:18443/ && \
  curl -s -o /dev/null -x http://127.0.0.1:13131 http://127.0.0.1:13131/proxy.pac -H 'Host: x' 2>/dev/null && break
  sleep 0.2
done
speed() { curl -s -o /dev/null -w '%{speed_download}\n' --cacert "$work/cert.pem" "$@" https://tunnel.example:18443/big.bin; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
direct=$(for _ in 1 2 3 4 5; do speed --resolve tunnel.example:18443:127.0.0.1; done | median)
proxied=$(for _ in 1 2 3 4 5; do speed -x http://127.0.0.1:13131; done | median)
awk -v d="$direct" -v p="$proxied" 'BEGIN { printf "direct %.0f MB/s, through the proxy %.0f MB/s, ratio %.2f\n", d/1e6, p/1e6, p/d }'
