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

echo "[build] fingerprinting into $out"
cargo build --quiet --profile server -p tessera-bff
"$CARGO_TARGET_DIR/server/tessera-bff" fingerprint --build "$staging" --out "$out"
