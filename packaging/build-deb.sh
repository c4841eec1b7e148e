#!/usr/bin/env bash
# Builds a Debian package of panic-tda from a cargo build, with dpkg-deb (no extra tools):
#   /usr/bin/panic-tda, /usr/bin/panic-tda-setup (installs ONNX Runtime and the default model
#   into the user's directories on first use), the desktop entry, hicolor icons, docs.
# With BUNDLE_ORT=1 the ONNX Runtime library is put in /usr/lib/panic-tda/ and found there.
# Usage: packaging/build-deb.sh [PROFILE]   (PROFILE: release (default) or dev)
# Output: target/debian/panic-tda_VERSION_ARCH.deb
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
arch=$(dpkg --print-architecture)
stage=target/debian/stage
rm -rf "$stage"
install -Dm755 "$out_dir/panic-tda" "$stage/usr/bin/panic-tda"
install -Dm755 scripts/setup.sh "$stage/usr/share/panic-tda/setup.sh"
install -Dm755 scripts/setup-gpu.sh "$stage/usr/share/panic-tda/setup-gpu.sh"
install -Dm644 scripts/gpu-requirements.txt "$stage/usr/share/panic-tda/gpu-requirements.txt"
cat > "$stage/usr/bin/panic-tda-setup" <<'SH'
#!/bin/sh
# Installs ONNX Runtime and the default embedding model for the current user (no system changes).
exec /usr/share/panic-tda/setup.sh --no-apt "$@"
SH
chmod 755 "$stage/usr/bin/panic-tda-setup"
install -Dm644 packaging/linux/panic-tda.desktop "$stage/usr/share/applications/panic-tda.desktop"
for size in 16 32 48 64 128 256 512; do
  install -Dm644 "assets/icons/panic-tda-$size.png" \
    "$stage/usr/share/icons/hicolor/${size}x${size}/apps/panic-tda.png"
done
install -Dm644 assets/icons/panic-tda.svg "$stage/usr/share/icons/hicolor/scalable/apps/panic-tda.svg"
install -Dm644 README.md "$stage/usr/share/doc/panic-tda/README.md"
install -Dm644 assets/fonts/DejaVu-LICENSE.txt "$stage/usr/share/doc/panic-tda/DejaVu-LICENSE.txt"
install -Dm644 packaging/linux/copyright "$stage/usr/share/doc/panic-tda/copyright"
if [ "${BUNDLE_ORT:-0}" = 1 ]; then
  lib="${PANIC_TDA_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/panic-tda}/onnxruntime/1.31.1/cpu/libonnxruntime.so.1.31.1"
  [ -f "$lib" ] || scripts/setup.sh --no-apt
  install -Dm644 "$lib" "$stage/usr/lib/panic-tda/libonnxruntime.so.1.31.1"
fi

# Runtime dependencies from the binary's shared libraries (FFmpeg, Vulkan loader, …).
shlib_dir=target/debian/shlibdeps
rm -rf "$shlib_dir"
mkdir -p "$shlib_dir/debian"
printf 'Source: panic-tda\n\nPackage: panic-tda\nArchitecture: any\n' > "$shlib_dir/debian/control"
binary="$(pwd)/$stage/usr/bin/panic-tda"
depends=$(cd "$shlib_dir" && dpkg-shlibdeps -O "$binary" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
if [ -z "$depends" ]; then
  depends="libavcodec59 | libavcodec-extra59, libavformat59, libavutil57, libswscale6, libc6"
fi
depends="$depends, libvulkan1, mesa-vulkan-drivers | libgl1, python3, python3-pip"
installed_size=$(du -sk "$stage" | cut -f1)
mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: panic-tda
Version: $version
Architecture: $arch
Maintainer: panic-tda developers <panic-tda@users.noreply.github.com>
Installed-Size: $installed_size
Depends: $depends
Section: science
Priority: optional
Homepage: https://github.com/ANUcybernetics/panic-tda
Description: explore feedback loops of generative AI models
 panic-tda runs text-to-image and image-to-text models in a loop, embeds every
 output, clusters the embeddings and lets you explore and export the
 trajectories. ONNX Runtime and the default embedding model are installed into
 your home directory by panic-tda-setup on first use.
CONTROL
mkdir -p target/debian
deb="target/debian/panic-tda_${version}_${arch}.deb"
# The dev-profile package (CI check) is large and thrown away: compress it quickly.
compression=xz
[ "$profile" = dev ] && compression=gzip
dpkg-deb --root-owner-group -Z"$compression" --build "$stage" "$deb" >/dev/null
echo "$deb"
