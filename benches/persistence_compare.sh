#!/usr/bin/env bash
# Rust Vietoris–Rips (H0–H2) vs giotto-ph ripser_parallel(maxdim=2) on identical clouds
# (see BENCHMARKS.md). Needs: pip install giotto-ph numpy
# Usage: benches/persistence_compare.sh [SIZES...]   (default 100 500 1000)
# PYTHON selects the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a sizes <<< "${*:-100 500 1000}"
py="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo bench --bench persistence --no-run 2>/dev/null
echo "| cloud | n | rust 1 thread (s) | giotto-ph 1 thread (s) | giotto-ph 2 threads (s) | bars H0/H1/H2 (rust; giotto) |"
echo "|---|---|---|---|---|---|"
for kind in walk uniform; do
  for n in "${sizes[@]}"; do
    data="$work/$kind-$n.f32"
    "$py" benches/persistence_python.py generate "$kind" "$n" 384 "$data"
    rust=$(RAYON_NUM_THREADS=1 cargo bench --bench persistence -q -- --file "$data" 384 2>/dev/null)
    g1=$("$py" benches/persistence_python.py run "$data" 384 1)
    g2=$("$py" benches/persistence_python.py run "$data" 384 2)
    field() { "$py" -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print("/".join(map(str,v)) if isinstance(v,list) else v)' "$1" "$2"; }
    echo "| $kind | $n | $(field "$rust" seconds) | $(field "$g1" seconds) | $(field "$g2" seconds) | $(field "$rust" pairs); $(field "$g1" pairs) |"
  done
done
