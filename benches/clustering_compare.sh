#!/usr/bin/env bash
# Rust HDBSCAN vs Python hdbscan and fast_hdbscan on identical data (see BENCHMARKS.md).
# Needs: pip install hdbscan fast_hdbscan pynndescent scikit-learn numpy
#        (--real also needs benches/requirements.txt and the MiniLM model from `make setup`)
# Usage: benches/clustering_compare.sh [--real] [SIZES...]   (default 10000 50000 100000)
#   synthetic (default): generated mixture, ARI against its ground truth.
#   --real (or REAL=1): Debian package descriptions embedded with MiniLM (benches/real_text.py);
#     there is no ground truth, so ARI is against exact Python hdbscan. The data and hdbscan's
#     labels are kept in REAL_DIR (default $CARGO_TARGET_DIR/real-text) and reused while newer
#     than the data, since embedding and exact hdbscan are the slow parts.
# MCS=K sets min_cluster_size = min_samples = K (default max(5, n / 1000): the
# app's rule with its earlier floor of 5, kept so these rows stay comparable with BENCHMARKS.md).
# REPEAT=N (default 3): Rust and fast_hdbscan (warm) are each timed N times in one process and
# the median is shown. Where the CPU has a bf16 unit Rust also runs on each slower kernel it
# has: AVX-512 BF16 instead of AMX tiles (PANIC_TDA_NO_AMX=1) and f32 products
# (PANIC_TDA_NO_BF16=1, the kernel of CPUs without either).
# A Python side that runs past PY_TIMEOUT seconds (default 600) is recorded as skipped, and so
# are its larger sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
real="${REAL:-0}"
if [[ "${1:-}" == --real ]]; then real=1; shift; fi
sizes=("${@:-10000 50000 100000}")
read -r -a sizes <<< "${sizes[*]}"
timeout_s="${PY_TIMEOUT:-600}"
# Python hdbscan is exact and grows ~n² in 384-d (76 s at 10k here): above this size it would
# run far past the timeout, so it is recorded as skipped without spending the time.
hdbscan_max_n="${HDBSCAN_MAX_N:-20000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
real_dir="${REAL_DIR:-${CARGO_TARGET_DIR:-target}/real-text}"
py=benches/clustering_python.py
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
cargo bench --bench clustering --no-run 2>/dev/null
declare -A skip
# The reference (truth, or hdbscan's labels in real mode) counts only if not older than the data.
fresh() { [[ -s "$ref" && ! "$dir/data.f32" -nt "$ref" ]]; }
ari_ref() { if fresh; then python3 "$py" ari "$ref" "$1"; else echo "–"; fi; }
if [[ "$real" == 1 ]]; then ref_name="hdbscan"; else ref_name="truth"; fi
echo "| n | method | seconds | clusters | noise | ARI vs $ref_name | ARI vs Rust |"
echo "|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
  mcs="${MCS:-$(( n / 1000 > 5 ? n / 1000 : 5 ))}"
  if [[ "$real" == 1 ]]; then
    dir="$real_dir/$n"
    python3 benches/real_text.py make "$n" "$dir" >&2
    ref="$dir/hdbscan_mcs$mcs.i32"
  else
    dir="$work/$n"; mkdir -p "$dir"
    python3 "$py" generate "$n" "$dir"
    ref="$dir/truth.i32"
  fi
  rust=$(cargo bench --bench clustering -q -- "$dir/data.f32" 384 "$work/rust_$n.i32" "$mcs" "$mcs" 0 2>/dev/null)
  echo "rust $n: $rust" >&2
  kernel=$(field "$rust" kernel)
  rust_row="| $n | rust (this crate, $kernel) | $(field "$rust" seconds) | $(field "$rust" clusters) | $(field "$rust" noise) |"
  # The slower kernels this CPU has, for comparison (each row once, whatever the switches pick).
  seen="$kernel"
  other_rows=()
  other_labels=()
  for switch in PANIC_TDA_NO_AMX PANIC_TDA_NO_BF16; do
    other_kernel=$(env "$switch=1" cargo bench --bench clustering -q -- kernel 2>/dev/null)
    [[ "|$seen|" == *"|$other_kernel|"* ]] && continue
    seen="$seen|$other_kernel"
    other=$(env "$switch=1" cargo bench --bench clustering -q -- "$dir/data.f32" 384 "$work/${switch}_$n.i32" "$mcs" "$mcs" 0 2>/dev/null)
    echo "rust $other_kernel $n: $other" >&2
    other_rows+=("| $n | rust (this crate, $other_kernel) | $(field "$other" seconds) | $(field "$other" clusters) | $(field "$other" noise) |")
    other_labels+=("$work/${switch}_$n.i32")
  done
  rows=()
  for method in hdbscan fast_hdbscan; do
    labels="$work/${method}_$n.i32"
    # Real mode keeps exact hdbscan's labels (and its JSON line) beside the data.
    if [[ "$real" == 1 && "$method" == hdbscan ]]; then labels="$ref"; fi
    if [[ "$real" == 1 && "$method" == hdbscan && -s "${ref%.i32}.json" ]] && fresh; then
      out=$(cat "${ref%.i32}.json"); cached=" (cached)"
    elif [[ "$method" == hdbscan && "$n" -gt "$hdbscan_max_n" ]]; then
      rows+=("| $n | $method | skipped (exact, ~n²: 76 s at 10k → > 10 min) | | | | |"); continue
    elif [[ -n "${skip[$method]:-}" ]]; then
      rows+=("| $n | $method | skipped (> ${timeout_s} s at a smaller n) | | | | |"); continue
    elif out=$(timeout "$timeout_s" python3 "$py" run "$method" "$dir/data.f32" "$labels" "$mcs" "$mcs"); then
      cached=""
      if [[ "$real" == 1 && "$method" == hdbscan ]]; then echo "$out" > "${ref%.i32}.json"; fi
    else
      skip[$method]=1
      rows+=("| $n | $method | > ${timeout_s} s (stopped) | | | | |"); continue
    fi
    echo "$method $n: $out" >&2
    read -r secs warm clusters noise < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["seconds"], d["warmup"], d["clusters"], d["noise"])' "$out")
    [[ "$warm" != "0.0" ]] && secs="$secs (+$warm warm-up)"
    rows+=("| $n | $method | $secs$cached | $clusters | $noise | $(ari_ref "$labels") | $(python3 "$py" ari "$work/rust_$n.i32" "$labels") |")
  done
  # The Rust row comes first but needs hdbscan's labels in real mode, so rows print per size.
  echo "$rust_row $(ari_ref "$work/rust_$n.i32") | – |"
  for i in "${!other_rows[@]}"; do
    echo "${other_rows[$i]} $(ari_ref "${other_labels[$i]}") | $(python3 "$py" ari "$work/rust_$n.i32" "${other_labels[$i]}") |"
  done
  printf '%s\n' "${rows[@]}"
done
