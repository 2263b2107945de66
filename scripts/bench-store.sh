#!/usr/bin/env bash
# Event-store benchmarks (issue 3): sustained ingest through the real writer
# on SQLite and PostgreSQL, and one user's day out of a large log.
#
#   scripts/bench-store.sh               # 50M events per backend (~20 min, ~40 GB disk)
#   FILL_EVENTS=5000000 scripts/bench-store.sh   # quicker
#
# Writes results to $RESULTS (default /tmp/tutela-bench/store-<date>).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tutela/target}"
PG_URL="${TUTELA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
INGEST_EVENTS="${INGEST_EVENTS:-3000000}"
FILL_EVENTS="${FILL_EVENTS:-50000000}"
DAYS="${DAYS:-30}"
WORK="${TUTELA_BENCH_DIR:-/tmp/tutela-bench}"
RESULTS="${RESULTS:-$WORK/store-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$RESULTS"

echo "date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short HEAD)  cpus: $(nproc)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" | tee "$RESULTS/env.txt"
cargo build --release -p tutela
TUTELA="$CARGO_TARGET_DIR/release/tutela"

config() { # $1 dir, $2 store section
  mkdir -p "$1"
  printf 'data_dir = "data"\nlists.sources = []\n[store]\n%s\n' "$2" > "$1/tutela.toml"
  echo "$1/tutela.toml"
}

run_ingest() { # $1 name, $2 store section
  local dir="$WORK/ingest-$1"; rm -rf "$dir"
  local cfg; cfg=$(config "$dir" "$2")
  "$TUTELA" --config "$cfg" db migrate >/dev/null
  echo "== ingest $1: $INGEST_EVENTS events, as fast as the generator goes"
  TUTELA_LOG=warn "$TUTELA" --config "$cfg" db load-test --events "$INGEST_EVENTS" --seconds 3600 | tee "$RESULTS/ingest-$1.json"
}

PG_SCHEMA_INGEST="bench_ingest_$$"
PG_SCHEMA_FILL="bench_fill"
run_ingest sqlite ""
run_ingest postgres "database_url = \"$PG_URL\"
schema = \"$PG_SCHEMA_INGEST\""
psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $PG_SCHEMA_INGEST CASCADE" || true

fill() { # $1 name, $2 store section
  local dir="$WORK/fill-$1"
  local cfg; cfg=$(config "$dir" "$2")
  echo "== fill $1 with $FILL_EVENTS events over $DAYS days"
  "$TUTELA" --config "$cfg" db migrate >/dev/null
  TUTELA_LOG=warn "$TUTELA" --config "$cfg" db load-test --events "$FILL_EVENTS" --seconds 36000 --spread-days "$DAYS" | tee "$RESULTS/fill-$1.json"
}
if [ "${SKIP_FILL:-0}" != 1 ]; then
  rm -rf "$WORK/fill-sqlite"
  psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $PG_SCHEMA_FILL CASCADE" || true
  # Side by side: the fill's own speed is not what is measured here.
  fill sqlite "" &
  fill postgres "database_url = \"$PG_URL\"
schema = \"$PG_SCHEMA_FILL\"" &
  wait
fi
du -sh "$WORK/fill-sqlite/data/tutela.db" | tee -a "$RESULTS/env.txt"
psql "$PG_URL" -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$PG_SCHEMA_FILL'" | sed 's/^/postgres fill size: /' | tee -a "$RESULTS/env.txt"

# One user's day, yesterday (a full day of the spread). Event n goes to the
# day (n mod DAYS) back and to pupil ((n / DAYS) mod 1500), so each of the
# 1,500 pupils has about FILL_EVENTS / DAYS / 1500 events a day (1,111 for
# 50M over 30 days).
DAY=$(date -u -d yesterday +%F)
echo "== user_day + insert criterion benches (day $DAY)"
TUTELA_BENCH_SQLITE="$WORK/fill-sqlite/data/tutela.db" TUTELA_BENCH_PG_SCHEMA="$PG_SCHEMA_FILL" \
  TUTELA_TEST_DATABASE_URL="$PG_URL" TUTELA_BENCH_DAY="$DAY" TUTELA_BENCH_USER=pupil0042 \
  cargo bench -p tutela-store --bench store 2>&1 | tee "$RESULTS/criterion.txt"
echo "results in $RESULTS"
