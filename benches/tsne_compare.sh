#!/usr/bin/env bash
# Side-by-side t-SNE benchmark, one job at a time: openTSNE (FFT, n_jobs=2) vs panic-tda on the same
# synthetic 384-d data (written once by Python), 250 exaggerated + 500 normal iterations, perplexity
# 30. Prints one JSON line per measurement. Usage: benches/tsne_compare.sh [--real] [SIZES...]
# Needs: python3 with numpy and openTSNE (PYTHON=... to pick another interpreter).
# --real (or REAL=1): Debian package descriptions embedded with MiniLM instead (benches/real_text.py,
# which also needs benches/requirements.txt and the model from `make setup`); the largest size is
# embedded once into REAL_DIR (default $CARGO_TARGET_DIR/real-text) and smaller sizes are its
# prefixes. About 59k unique descriptions exist on Debian 12, so the default sizes are 10000 50000.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET/tsne-bench}
REAL=${REAL:-0}
if [ "${1:-}" = --real ]; then REAL=1; shift; fi
LIMIT=${LIMIT:-600}
mkdir -p "$OUT"
cargo build --release --quiet --example tsne_bench
BENCH="$TARGET/release/examples/tsne_bench"
if [ "$REAL" = 1 ]; then
  SIZES=${*:-10000 50000}
  max_n=$(printf '%s\n' $SIZES | sort -n | tail -1)
  REAL_DIR=${REAL_DIR:-$TARGET/real-text}
  "$PYTHON" benches/real_text.py make "$max_n" "$REAL_DIR/$max_n" >&2
  DATA="$REAL_DIR/$max_n/data.f32"
  OUT="$OUT/real"; mkdir -p "$OUT"
else
  SIZES=${*:-10000 50000 100000}
  DATA="$OUT/data.f32"
  [ -f "$DATA" ] || "$PYTHON" benches/tsne_python.py generate --out "$DATA" --n 100000
fi
skip_python=0
skip_rust=0
for n in $SIZES; do
  if [ $skip_python = 0 ]; then
    if timeout "$LIMIT" "$PYTHON" benches/tsne_python.py opentsne --data "$DATA" --n "$n" --layout "$OUT/opentsne_$n.f32"; then
      "$BENCH" score "$DATA" "$n" "$OUT/opentsne_$n.f32" openTSNE
    else
      echo "{\"side\": \"openTSNE\", \"n\": $n, \"seconds\": \"> $LIMIT (stopped)\"}"; skip_python=1
    fi
  fi
  if [ $skip_rust = 0 ]; then
    if timeout "$LIMIT" "$BENCH" run "$DATA" "$n" "$OUT/ours_$n.f32"; then
      "$BENCH" score "$DATA" "$n" "$OUT/ours_$n.f32" panic-tda
    else
      echo "{\"side\": \"panic-tda\", \"n\": $n, \"seconds\": \"> $LIMIT (stopped)\"}"; skip_rust=1
    fi
  fi
done
