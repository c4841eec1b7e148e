#!/usr/bin/env bash
# Rust HDBSCAN vs Python hdbscan and fast_hdbscan on identical data (see BENCHMARKS.md).
# Needs: pip install hdbscan fast_hdbscan pynndescent scikit-learn numpy
# Usage: benches/clustering_compare.sh [SIZES...]   (default 10000 50000 100000)
# A Python side that runs past PY_TIMEOUT seconds (default 600) is recorded as skipped, and so
# are its larger sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-10000 50000 100000}")
read -r -a sizes <<< "${sizes[*]}"
timeout_s="${PY_TIMEOUT:-600}"
# Python hdbscan is exact and grows ~n² in 384-d (76 s at 10k here): above this size it would
# run far past the timeout, so it is recorded as skipped without spending the time.
hdbscan_max_n="${HDBSCAN_MAX_N:-20000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
py=benches/clustering_python.py
cargo bench --bench clustering --no-run 2>/dev/null
declare -A skip
echo "| n | method | seconds | clusters | noise | ARI vs truth | ARI vs Rust |"
echo "|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
  dir="$work/$n"; mkdir -p "$dir"
  python3 "$py" generate "$n" "$dir"
  mcs=$(( n / 1000 > 5 ? n / 1000 : 5 ))
  rust=$(cargo bench --bench clustering -q -- "$dir/data.f32" 384 "$dir/rust.i32" "$mcs" "$mcs" 0 2>/dev/null)
  echo "rust $n: $rust" >&2
  secs=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$rust")
  clusters=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["clusters"])' "$rust")
  noise=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["noise"])' "$rust")
  echo "| $n | rust (this crate) | $secs | $clusters | $noise | $(python3 "$py" ari "$dir/truth.i32" "$dir/rust.i32") | – |"
  for method in hdbscan fast_hdbscan; do
    if [[ "$method" == hdbscan && "$n" -gt "$hdbscan_max_n" ]]; then
      echo "| $n | $method | skipped (exact, ~n²: 76 s at 10k → > 10 min) | | | | |"; continue
    fi
    if [[ -n "${skip[$method]:-}" ]]; then
      echo "| $n | $method | skipped (> ${timeout_s} s at a smaller n) | | | | |"; continue
    fi
    if out=$(timeout "$timeout_s" python3 "$py" run "$method" "$dir/data.f32" "$dir/$method.i32" "$mcs" "$mcs"); then
      echo "$method $n: $out" >&2
      read -r secs warm clusters noise < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["seconds"], d["warmup"], d["clusters"], d["noise"])' "$out")
      [[ "$warm" != "0.0" ]] && secs="$secs (+$warm warm-up)"
      echo "| $n | $method | $secs | $clusters | $noise | $(python3 "$py" ari "$dir/truth.i32" "$dir/$method.i32") | $(python3 "$py" ari "$dir/rust.i32" "$dir/$method.i32") |"
    else
      skip[$method]=1
      echo "| $n | $method | > ${timeout_s} s (stopped) | | | | |"
    fi
  done
done
