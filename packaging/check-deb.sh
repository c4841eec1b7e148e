#!/usr/bin/env bash
# CI check of the Debian package: build it, install it with dpkg, run the installed binary
# (`--version`, `info`: it must find ONNX Runtime), then remove it again.
# Usage: packaging/check-deb.sh [release|dev]
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(BUNDLE_ORT=1 packaging/build-deb.sh "${1:-release}" | tail -n1)
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" dpkg -i "$deb"
trap '"${sudo_cmd[@]}" dpkg -r panic-tda >/dev/null' EXIT
/usr/bin/panic-tda --version
# An empty data dir: the bundled ONNX Runtime in /usr/lib/panic-tda must be the one found.
scratch=$(mktemp -d)
env -u ORT_DYLIB_PATH PANIC_TDA_DATA_DIR="$scratch/data" PANIC_TDA_MODELS_DIR="$scratch/models" \
  /usr/bin/panic-tda info | tee "$scratch/info.txt"
grep -q '/usr/lib/panic-tda/libonnxruntime.so' "$scratch/info.txt"
test -f /usr/share/applications/panic-tda.desktop
test -f /usr/share/icons/hicolor/256x256/apps/panic-tda.png
rm -rf "$scratch"
echo "package check passed: $deb"
