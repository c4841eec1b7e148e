#!/usr/bin/env bash
# 4K mosaic video export, frames/s: ours (frames composed in parallel and streamed into
# libavcodec) vs the old tool's approach (Pillow writes each frame to a file, the ffmpeg CLI
# encodes them), on the same synthetic database: 4 prompts × 4 networks × 8 seeds × 100 steps
# (50 image steps = 50 frames). Both encode H.264 (libx264, preset medium, CRF 22).
# Usage: [VIDEO_BENCH_DB=existing.sqlite] benches/video_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if ! command -v ffmpeg >/dev/null; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq ffmpeg >/dev/null
fi
python3 -c "import PIL" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pillow
# Run the built binary directly: `cargo bench` would build again under the bench profile.
bench_bin="$(cargo build --release --bench video_export --message-format=json --quiet \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "video_export" and m.get("executable"):
        print(m["executable"])')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
# An existing VIDEO_BENCH_DB from an earlier run is reused (building it takes minutes).
export VIDEO_BENCH_DB="${VIDEO_BENCH_DB:-$work/bench.sqlite}" VIDEO_BENCH_OUT="$work/rust.mp4"
"$bench_bin" 2>/dev/null | tee "$work/results.jsonl"
python3 benches/video_pillow.py "$VIDEO_BENCH_DB" "$work/pillow-png.mp4" --frame-format png | tee -a "$work/results.jsonl"
python3 benches/video_pillow.py "$VIDEO_BENCH_DB" "$work/pillow-jpg.mp4" --frame-format jpg | tee -a "$work/results.jsonl"
python3 - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
rust = next(r for r in rows if r["impl"] == "rust")
print("\n| pipeline | frames | seconds | frames/s | ours / it |")
print("|---|---:|---:|---:|---:|")
for r in rows:
    ratio = rust["frames_per_second"] / r["frames_per_second"]
    print(f"| {r['impl']} | {r['frames']} | {r['seconds']:.1f} | {r['frames_per_second']:.2f} | {ratio:.2f}× |")
PY
