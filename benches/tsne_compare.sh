#!/usr/bin/env bash
# Side-by-side t-SNE benchmark, one job at a time: openTSNE (FFT, n_jobs=2) vs panic-tda on the same
# synthetic 384-d data (written once by Python), 250 exaggerated + 500 normal iterations, perplexity
# 30. Prints one JSON line per measurement. Usage: benches/tsne_compare.sh [SIZES...]
# Needs: python3 with numpy and openTSNE (PYTHON=... to pick another interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET/tsne-bench}
SIZES=${*:-10000 50000 100000}
LIMIT=${LIMIT:-600}
mkdir -p "$OUT"
cargo build --release --quiet --example tsne_bench
BENCH="$TARGET/release/examples/tsne_bench"
[ -f "$OUT/data.f32" ] || "$PYTHON" benches/tsne_python.py generate --out "$OUT/data.f32" --n 100000
skip_python=0
skip_rust=0
for n in $SIZES; do
  if [ $skip_python = 0 ]; then
    if timeout "$LIMIT" "$PYTHON" benches/tsne_python.py opentsne --data "$OUT/data.f32" --n "$n" --layout "$OUT/opentsne_$n.f32"; then
      "$BENCH" score "$OUT/data.f32" "$n" "$OUT/opentsne_$n.f32" openTSNE
    else
      echo "{\"side\": \"openTSNE\", \"n\": $n, \"seconds\": \"> $LIMIT (stopped)\"}"; skip_python=1
    fi
  fi
  if [ $skip_rust = 0 ]; then
    if timeout "$LIMIT" "$BENCH" run "$OUT/data.f32" "$n" "$OUT/ours_$n.f32"; then
      "$BENCH" score "$OUT/data.f32" "$n" "$OUT/ours_$n.f32" panic-tda
    else
      echo "{\"side\": \"panic-tda\", \"n\": $n, \"seconds\": \"> $LIMIT (stopped)\"}"; skip_rust=1
    fi
  fi
done
