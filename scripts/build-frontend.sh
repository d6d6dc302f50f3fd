#!/usr/bin/env bash
# Builds the release front end once and fingerprints it into dist/ (hashed assets under
# dist/assets/, precompressed variants, asset-manifest.json). Earlier builds' assets are kept.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/env.sh"
cd "$here"

out="${TESSERA_DIST_DIR:-$here/dist}"
staging="$CARGO_TARGET_DIR/trunk-dist"
# A failed trunk build must not leave an older build to be fingerprinted.
rm -rf "$staging"

echo "[build] front end (trunk build --release)"
trunk build --release --dist "$staging"

# The operations dashboard: a module of its own that only the /ops page loads, so shoppers
# never download it (frontend/src/pages/ops.rs). Built as Trunk builds the app: the same
# profile, the wasm-bindgen that Cargo.lock pins, and wasm-opt with the page's own settings.
echo "[build] operations dashboard (tessera-ops)"
# Trunk refuses any wasm-opt but binaryen 132 (Trunk.toml); so does this step, since other
# versions silently break wasm-bindgen's output (scripts/setup.sh).
wasm-opt --version | grep -q "version 132" ||
  { echo "[build] wasm-opt is not binaryen 132: run scripts/setup.sh" >&2; exit 1; }
cargo build --release --locked --quiet --target wasm32-unknown-unknown -p tessera-frontend --bin tessera-ops
wasm-bindgen --target web --no-typescript --out-dir "$staging" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/tessera-ops.wasm"
wasm-opt -Oz --strip-debug --strip-producers \
  "$staging/tessera-ops_bg.wasm" -o "$staging/tessera-ops_bg.wasm"

echo "[build] fingerprinting into $out"
cargo build --quiet --profile server -p tessera-bff
"$CARGO_TARGET_DIR/server/tessera-bff" fingerprint --build "$staging" --out "$out"
