#!/usr/bin/env bash
# Builds a portable bundle: an AppDir (the AppImage layout) with the binary, the ONNX Runtime
# library bundled next to it, the desktop entry and icons. Always writes a .tar.gz of it; also
# writes an AppImage when `appimagetool` is on PATH.
# Usage: packaging/build-portable.sh [release|dev]
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-release}"
case "$profile" in
  release) out_dir=target/release ;;
  dev) out_dir=target/debug ;;
  *) echo "usage: $0 [release|dev]" >&2; exit 2 ;;
esac
cargo build --profile "$profile" --bin panic-tda
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
appdir=target/portable/panic-tda.AppDir
rm -rf "$appdir"
install -Dm755 "$out_dir/panic-tda" "$appdir/usr/bin/panic-tda"
lib="${PANIC_TDA_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/panic-tda}/onnxruntime/1.31.1/cpu/libonnxruntime.so.1.31.1"
[ -f "$lib" ] || scripts/setup.sh --no-apt
install -Dm644 "$lib" "$appdir/usr/lib/panic-tda/libonnxruntime.so.1.31.1"
install -Dm755 scripts/setup.sh "$appdir/usr/share/panic-tda/setup.sh"
install -Dm755 scripts/setup-gpu.sh "$appdir/usr/share/panic-tda/setup-gpu.sh"
install -Dm644 scripts/gpu-requirements.txt "$appdir/usr/share/panic-tda/gpu-requirements.txt"
install -Dm644 packaging/linux/panic-tda.desktop "$appdir/panic-tda.desktop"
install -Dm644 packaging/linux/panic-tda.desktop "$appdir/usr/share/applications/panic-tda.desktop"
install -Dm644 assets/icons/panic-tda-256.png "$appdir/panic-tda.png"
for size in 16 32 48 64 128 256 512; do
  install -Dm644 "assets/icons/panic-tda-$size.png" "$appdir/usr/share/icons/hicolor/${size}x${size}/apps/panic-tda.png"
done
install -Dm755 packaging/appimage/AppRun "$appdir/AppRun"
tarball="target/portable/panic-tda-$version-$(uname -m).tar.gz"
tar -C target/portable -czf "$tarball" panic-tda.AppDir
echo "$tarball"
if command -v appimagetool >/dev/null 2>&1; then
  ARCH="$(uname -m)" appimagetool "$appdir" "target/portable/panic-tda-$version-$(uname -m).AppImage"
fi
