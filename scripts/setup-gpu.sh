#!/usr/bin/env bash
# Installs the CUDA 13 build of ONNX Runtime 1.31.1 (PyPI `onnxruntime-gpu`) and the CUDA and cuDNN
# libraries it needs (PyPI `nvidia-*` wheels, ~1.3 GB), every wheel pinned by sha256 in
# gpu-requirements.txt. The app prefers this build when it is present and loads the CUDA
# libraries from gpu/cuda/ itself, so nothing has to be on LD_LIBRARY_PATH.
# Usage (called by `scripts/setup.sh --gpu` / `make setup-gpu`): setup-gpu.sh GPU_DIR DOWNLOAD_DIR
set -euo pipefail
gpu_dir="$1"
download_dir="$2/gpu"
here="$(cd "$(dirname "$0")" && pwd)"
if [ -f "$gpu_dir/libonnxruntime.so.1.31.1" ] && [ -f "$gpu_dir/libonnxruntime_providers_cuda.so" ] \
   && [ -d "$gpu_dir/cuda" ]; then
  exit 0
fi
echo "==> downloading ONNX Runtime GPU and CUDA libraries (about 1.3 GB)"
mkdir -p "$download_dir" "$gpu_dir/cuda"
python3 -m pip download --quiet --no-deps --require-hashes --only-binary :all: \
  --python-version 3.11 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
  -r "$here/gpu-requirements.txt" --dest "$download_dir"
python3 - "$download_dir" "$gpu_dir" <<'PY'
import pathlib, shutil, sys, zipfile
downloads, gpu = map(pathlib.Path, sys.argv[1:3])
for wheel in sorted(downloads.glob("*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            name = pathlib.PurePosixPath(member).name
            if ".so" not in name or "pybind11" in name:
                continue
            if member.startswith("onnxruntime/capi/"):
                target = gpu / name
            elif member.startswith("nvidia/") and "/lib/" in member:
                target = gpu / "cuda" / name
            else:
                continue
            with archive.open(member) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
PY
echo "==> ONNX Runtime GPU installed in $gpu_dir"
