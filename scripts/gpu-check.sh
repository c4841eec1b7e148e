#!/usr/bin/env bash
# Runs the real-export fixtures (tests/fixtures/real/) on the CUDA execution provider and checks
# them against the same references as on the CPU, then times lock-step batches per model on the
# CPU and on CUDA. Needs no Rust toolchain: it runs the `real_exports` test binary built
# elsewhere, e.g. on the development machine:
#   cargo test --release --test real_exports --no-run   # prints target/release/deps/real_exports-<hash>
# and copy that file along with this repository's tests/fixtures/real/ and scripts/.
# The GPU build of ONNX Runtime must be installed where the app looks for it (`scripts/setup.sh
# --gpu --no-apt` or `make setup-gpu`, which need the network; or copy
# $PANIC_TDA_DATA_DIR/onnxruntime/1.31.1/gpu/ from a machine that ran it), or ORT_DYLIB_PATH set.
# Usage: scripts/gpu-check.sh [--out DIR] [TEST_BINARY]
#   TEST_BINARY  default: the newest ${CARGO_TARGET_DIR:-target}/release/deps/real_exports-*
#   --out DIR    logs and report.md go there (default: target/gpu-check)
# Environment: PANIC_TDA_THROUGHPUT_BATCHES (default 1,4,16), GPU_CHECK_TIMEOUT (seconds per
# step, default 900). Exits non-zero when any step fails; report.md says which.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$repo/target/gpu-check"
binary=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "usage: $0 [--out DIR] [TEST_BINARY]" >&2; exit 2 ;;
    *) binary="$1"; shift ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { echo "error: $*" >&2; exit 1; }

# --- the test binary ----------------------------------------------------------------------------
if [ -z "$binary" ]; then
  deps="${CARGO_TARGET_DIR:-$repo/target}/release/deps"
  for candidate in "$deps"/real_exports-*; do
    case "$candidate" in *.*) continue ;; esac
    if [ -f "$candidate" ] && [ -x "$candidate" ] \
       && { [ -z "$binary" ] || [ "$candidate" -nt "$binary" ]; }; then
      binary="$candidate"
    fi
  done
  [ -n "$binary" ] || fail "no real_exports test binary in $deps; build one with
  cargo test --release --test real_exports --no-run
and pass its path (printed as 'Executable tests/real_exports.rs (...)') as the argument"
fi
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
  fail "$binary is not an executable test binary"
fi
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"

# --- the GPU runtime ----------------------------------------------------------------------------
fixtures="$repo/tests/fixtures/real"
[ -d "$fixtures" ] || fail "$fixtures is missing"
export PANIC_TDA_REAL_FIXTURES="$fixtures"
export RUST_BACKTRACE=0
data_dir="${PANIC_TDA_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/panic-tda}"
gpu_dir="$data_dir/onnxruntime/1.31.1/gpu"
if [ -n "${ORT_DYLIB_PATH:-}" ]; then
  runtime="$ORT_DYLIB_PATH"
  # The app preloads gpu/cuda/ only for its own GPU install; for another library the CUDA and
  # cuDNN libraries must be on the loader's path.
  cuda_dir="$(dirname "$runtime")/cuda"
  if [ -d "$cuda_dir" ]; then
    export LD_LIBRARY_PATH="$cuda_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
else
  runtime="$gpu_dir/libonnxruntime.so.1.31.1"
  if [ ! -f "$runtime" ] || [ ! -f "$gpu_dir/libonnxruntime_providers_cuda.so" ] \
     || [ ! -d "$gpu_dir/cuda" ]; then
    fail "the GPU build of ONNX Runtime is not installed in $gpu_dir; run
  scripts/setup.sh --gpu --no-apt
(needs the network), copy that directory from a machine that ran it, or set ORT_DYLIB_PATH"
  fi
fi

mkdir -p "$out"
gpu="no nvidia-smi on PATH"
if command -v nvidia-smi >/dev/null 2>&1; then
  gpu="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 \
    | head -n 4 | tr '\n' ';' || true)"
fi
say "GPU: $gpu"
say "test binary: $binary"
say "ONNX Runtime: $runtime"

# --- the steps ----------------------------------------------------------------------------------
timeout_s="${GPU_CHECK_TIMEOUT:-900}"
limit=()
if command -v timeout >/dev/null 2>&1; then limit=(timeout "$timeout_s"); fi
steps=()
statuses=()
failed=0
# step NAME DEVICE [TEST ARGS...]: runs the binary on DEVICE, output to $out/NAME.log.
step() {
  local name="$1" device="$2"
  shift 2
  say "$name (PANIC_TDA_TEST_DEVICE=$device)"
  local status=0
  PANIC_TDA_TEST_DEVICE="$device" "${limit[@]}" "$binary" "$@" >"$out/$name.log" 2>&1 || status=$?
  grep -E '^test result:' "$out/$name.log" || true
  steps+=("$name")
  if [ "$status" = 0 ]; then
    statuses+=("passed")
  else
    if [ "$status" = 124 ]; then statuses+=("timed out after ${timeout_s} s"); else statuses+=("FAILED (exit $status)"); fi
    failed=1
    echo "$name failed; see $out/$name.log" >&2
  fi
}
throughput=(--ignored --exact lock_step_batch_throughput_per_model --nocapture)
step reference-cpu cpu
step reference-cuda cuda
step throughput-cpu cpu "${throughput[@]}"
step throughput-cuda cuda "${throughput[@]}"

# --- the report ---------------------------------------------------------------------------------
report="$out/report.md"
table() { grep -E '^\|' "$out/$1.log" || echo "(no table: the step failed)"; }
{
  echo "# GPU check of the real-export fixtures"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- GPU: $gpu"
  echo "- ONNX Runtime: $runtime"
  echo "- test binary: $(basename "$binary")"
  echo "- batches: ${PANIC_TDA_THROUGHPUT_BATCHES:-1,4,16}"
  echo
  echo "| step | result | tests |"
  echo "|---|---|---|"
  for i in "${!steps[@]}"; do
    tests="$(grep -E '^test result:' "$out/${steps[$i]}.log" | tail -n 1 | sed 's/^test result: //' || true)"
    echo "| ${steps[$i]} | ${statuses[$i]} | ${tests:-none run} |"
  done
  for name in "${steps[@]}"; do
    if grep -q "panicked at" "$out/$name.log"; then
      echo
      echo "First failure in $name:"
      echo
      echo '```'
      grep -A 3 -m 1 "panicked at" "$out/$name.log"
      echo '```'
    fi
  done
  echo
  echo "## Throughput on the CPU"
  echo
  table throughput-cpu
  echo
  echo "## Throughput on CUDA"
  echo
  table throughput-cuda
  echo
  echo "## CUDA against the CPU (items / s)"
  echo
  echo "| model | batch | cpu | cuda | cuda / cpu |"
  echo "|---|---:|---:|---:|---:|"
  # Rows: | model | device | batch | runs | ms / batch | items / s |
  awk -F'|' '
    $3 ~ /^ (cpu|cuda) $/ {
      key = $2 "|" $4
      if (FILENAME == ARGV[1]) { cpu[key] = $7 + 0; order[++n] = key } else { cuda[key] = $7 + 0 }
    }
    END {
      for (i = 1; i <= n; i++) {
        key = order[i]; split(key, part, "|")
        if (key in cuda) printf "|%s|%s| %.1f | %.1f | %.2f× |\n", part[1], part[2], cpu[key], cuda[key], cuda[key] / cpu[key]
      }
    }' "$out/throughput-cpu.log" "$out/throughput-cuda.log"
} >"$report"
say "report: $report"
cat "$report"
exit "$failed"
