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
# - media tests: pulseaudio (null sink), sox, espeak-ng (speech for the echo,
#   noise and gain tests of tests/audio_processing.rs)
# - GPU rendering tests: xvfb, xauth, mesa (lavapipe Vulkan + llvmpipe GL), imagemagick, x11-utils
# - desktop app (Tauri 2): webkit2gtk 4.1, gtk 3, appindicator, rsvg, ssl, xdo;
#   bundling: patchelf, file; app E2E: webkit2gtk-driver (WebKitWebDriver), xdotool
# - browser interop tests: chromium (headless, driven by playwright-core)
# - real-network tests: iproute2 (network namespaces, veth, bridges),
#   nftables (NAT and firewalls inside those namespaces), libnss3-tools
#   (certutil: a test CA in headless Chromium's store), coturn (an
#   external TURN server that takes the credentials confer serve hands out)
# - Wayland screen sharing (media-core feature `wayland`, on by default):
#   libpipewire-0.3-dev (pipewire-rs via bindgen), libpipewire-0.3-modules
#   (the client's protocol modules at run time); tests/screen_portal.rs:
#   dbus-daemon (a private session bus for the mock portal), pipewire and
#   wireplumber (a headless PipeWire daemon and its session manager)
# - several nodes on one Redis (tests/nodes.rs): redis-server (and its
#   redis-cli), started by the tests on a loopback port without persistence
pkgs=(pkg-config libclang-dev libasound2-dev cmake nasm
      pulseaudio pulseaudio-utils sox espeak-ng
      xvfb xauth mesa-vulkan-drivers libvulkan1 libgl1-mesa-dri libegl1 libx11-dev imagemagick x11-utils
      libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev libxdo-dev
      build-essential patchelf file webkit2gtk-driver xdotool chromium
      iproute2 nftables coturn libnss3-tools
      libpipewire-0.3-dev libpipewire-0.3-modules dbus-daemon pipewire wireplumber
      redis-server)
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

# tauri-driver (WebDriver bridge for the app E2E test), built once into the
# target directory's tools/ so a cached target directory keeps it.
tools="${CARGO_TARGET_DIR:-target}/tools"
if [ ! -x "$tools/bin/tauri-driver" ]; then
  echo "deps: building tauri-driver into $tools"
  cargo install tauri-driver --version '^2' --locked --root "$tools" --quiet
fi

# The app's web UI: TypeScript compiler from the npm registry (lockfile pinned).
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "deps: npm ci in ui/"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi

# Browser tests: playwright-core (lockfile pinned; it drives the Debian
# chromium and downloads no browser).
if [ ! -d tests/browser/node_modules ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  echo "deps: npm ci in tests/browser/"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
