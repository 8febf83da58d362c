#!/usr/bin/env bash
# `make dist`: release bundles of the desktop app with the Tauri bundler.
#
# - Bundles: $DIST_BUNDLES (default: deb). AppImage, rpm, nsis and dmg stay in
#   tauri.conf.json for machines that have their tools (the AppImage bundler
#   downloads linuxdeploy/AppRun at bundle time, which this machine cannot).
# - Version: the workspace Cargo.toml's (tauri.conf.json has none).
# - Signing: with TAURI_SIGNING_PRIVATE_KEY (the key or its path) and
#   TAURI_SIGNING_PRIVATE_KEY_PASSWORD set, the bundles get updater
#   signatures (.sig) and target/release/bundle/feed/ is an update feed
#   ready for `confer serve --update-feed` (latest.json + the .deb). Without
#   a key the bundles are built unsigned and no feed is written.
# - $UPDATE_FEED_URL: the base URL the feed will be served from (default
#   http://127.0.0.1:8080/updates); $UPDATE_ENDPOINT overrides the app's
#   built-in feed URL (plugins.updater.endpoints) for this build.
# Changes no tracked file.
set -euo pipefail
cd "$(dirname "$0")/.."

tauri="$PWD/ui/node_modules/.bin/tauri"
[ -x "$tauri" ] || { echo "dist: $tauri missing; run make deps" >&2; exit 1; }
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
bundles="${DIST_BUNDLES:-deb}"

config='{}'
if [ -z "${TAURI_SIGNING_PRIVATE_KEY:-}" ]; then
  echo "dist: TAURI_SIGNING_PRIVATE_KEY is not set: building UNSIGNED bundles (no update artifacts)" >&2
  config='{"bundle":{"createUpdaterArtifacts":false}}'
elif [ -n "${UPDATE_ENDPOINT:-}" ]; then
  config="{\"plugins\":{\"updater\":{\"endpoints\":[\"$UPDATE_ENDPOINT\"]}}}"
fi
export TAURI_SIGNING_PRIVATE_KEY_PASSWORD="${TAURI_SIGNING_PRIVATE_KEY_PASSWORD:-}"

export TAURI_APP_PATH=src-tauri
"$tauri" build --no-bundle --config "$config"
# The release profile keeps line tables (for the benches' profiles); the
# shipped binary does not need them: strip before bundling (4x smaller).
[ -n "${DIST_KEEP_DEBUG:-}" ] || strip --strip-debug "$target/release/confer-app"
"$tauri" bundle --bundles "$bundles" --config "$config"

deb="$target/release/bundle/deb/Confer_${version}_amd64.deb"
if [ -f "$deb" ]; then
  size_mb="$(awk -v b="$(stat -c %s "$deb")" 'BEGIN { printf "%.2f", b / 1e6 }')"
  echo "dist: $deb"
  echo "deb_bundle_size_mb $size_mb"
  if [ -f "$deb.sig" ]; then
    echo "update_download_size_mb $size_mb"
    feed="$target/release/bundle/feed"
    base="${UPDATE_FEED_URL:-http://127.0.0.1:8080/updates}"
    rm -rf "$feed" && mkdir -p "$feed"
    cp "$deb" "$deb.sig" "$feed/"
    sig="$(cat "$deb.sig")"
    notes="${RELEASE_NOTES:-Confer $version}"
    printf '{"version":"%s","notes":"%s","pub_date":"%s","platforms":{"linux-x86_64-deb":{"signature":"%s","url":"%s/%s"}}}\n' \
      "$version" "$notes" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$sig" "$base" "$(basename "$deb")" > "$feed/latest.json"
    echo "dist: update feed in $feed (serve it with: confer serve --update-feed $feed)"
  fi
fi
