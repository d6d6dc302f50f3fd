#!/usr/bin/env bash
# Takes the README's screenshots from the running app (the real services and BFF, headless
# Chromium): the home page, a product page, its "how this page loaded" panel, a product page
# with the recommendations service failing, and the ops page while it fails (after about a
# minute of traffic, for its sparklines). Writes docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/env.sh

dist="$CARGO_TARGET_DIR/screenshot-dist"
TESSERA_DIST_DIR="$dist" ./scripts/build-frontend.sh
TESSERA_DIST_DIR="$dist" cargo run --profile server -p tessera-e2e --example screenshots
