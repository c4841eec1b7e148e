#!/usr/bin/env bash
# MiniLM sentences/s, Rust (release) vs Python onnxruntime + tokenizers, batch 1/32/256, over the
# same 2,048 sentences and the same model files. Needs `make setup` (MiniLM + ONNX Runtime).
# Usage: benches/run_embed_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
models_dir="${PANIC_TDA_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/panic-tda/models}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip install --quiet --disable-pip-version-check -r benches/requirements.txt
python3 benches/embed_python.py --write-sentences "$work/sentences.txt"
cargo build --release --bench embed_throughput --quiet
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
EMBED_BENCH_SENTENCES="$work/sentences.txt" cargo bench --quiet --bench embed_throughput | tee "$work/rust.jsonl"
python3 benches/embed_python.py "$models_dir/all-MiniLM-L6-v2" "$work/sentences.txt" 1 32 256 | tee "$work/python.jsonl"
python3 - "$work/rust.jsonl" "$work/python.jsonl" <<'PY'
import json, sys
rows = {}
for path in sys.argv[1:]:
    for line in open(path):
        if line.startswith("{"):
            r = json.loads(line)
            rows.setdefault(r["batch"], {})[r["impl"]] = r["per_second"]
print("\n| batch | Rust sentences/s | Python sentences/s | Rust / Python |")
print("|---:|---:|---:|---:|")
for batch in sorted(rows):
    rust, python = rows[batch].get("rust"), rows[batch].get("python")
    ratio = f"{rust / python:.2f}×" if rust and python else "-"
    print(f"| {batch} | {rust} | {python} | {ratio} |")
PY
