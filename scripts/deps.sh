#!/usr/bin/env bash
# Installs what `make run` / `make test` need on a fresh Debian 12 machine that
# has only the Rust toolchain. Idempotent: installs only what is missing.
set -euo pipefail

# Debian packages, by the command or file that proves each is present.
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# - build: pkg-config, libclang-dev (bindgen for nokhwa's v4l2), libasound2-dev
#   (cpal), cmake (libopus from source), nasm (openh264 SIMD; without it the
#   encoder silently builds 3x slower)
# - media tests: pulseaudio (null sink), sox
# - GPU rendering tests: xvfb, xauth, mesa (lavapipe Vulkan + llvmpipe GL), imagemagick, x11-utils
pkgs=(pkg-config libclang-dev libasound2-dev cmake nasm
      pulseaudio pulseaudio-utils sox
      xvfb xauth mesa-vulkan-drivers libvulkan1 libgl1-mesa-dri libegl1 libx11-dev imagemagick x11-utils)
for pkg in "${pkgs[@]}"; do
  have_pkg "$pkg" || need+=("$pkg")
done

if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "deps: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# Rust components used by `make test`.
for comp in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$comp" || rustup component add "$comp"
done
