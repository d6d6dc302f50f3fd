#!/usr/bin/env bash
# Takes the README's screenshots from the running app: the home page, the product page whole,
# and with the recommendations service failing (through its fault injection). Writes
# docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/env.sh

dist="$CARGO_TARGET_DIR/screenshot-dist"
TESSERA_DIST_DIR="$dist" ./scripts/build-frontend.sh
cargo build --profile server -p tessera-services -p tessera-bff --bins
bin="$CARGO_TARGET_DIR/server"

data="$(mktemp -d)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

# Ports a running demo does not use.
"$bin/tessera-services" --data-dir "$data" --scale small all \
    --catalog 127.0.0.1:18081 --inventory 127.0.0.1:18082 \
    --reviews 127.0.0.1:18083 --recommendations 127.0.0.1:18084 &
pids+=($!)
for port in 18081 18082 18083 18084; do
    until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.2; done
done
TESSERA_UPSTREAM_CATALOG_URL=http://127.0.0.1:18081 \
TESSERA_UPSTREAM_INVENTORY_URL=http://127.0.0.1:18082 \
TESSERA_UPSTREAM_REVIEWS_URL=http://127.0.0.1:18083 \
TESSERA_UPSTREAM_RECOMMENDATIONS_URL=http://127.0.0.1:18084 \
    "$bin/tessera-bff" --dist-dir "$dist" --listen 127.0.0.1:18080 &
pids+=($!)
until curl -sf http://127.0.0.1:18080/healthz >/dev/null; do sleep 0.2; done

shot() {
    chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
        --window-size=1280,"$3" --virtual-time-budget=8000 --screenshot="$1" "$2" 2>/dev/null
    echo "[screenshots] $1"
}
mkdir -p docs/screenshots
shot docs/screenshots/home.png http://127.0.0.1:18080/ 1250
shot docs/screenshots/product.png http://127.0.0.1:18080/product/7 1250
curl -sf -X PUT http://127.0.0.1:18084/admin/faults -H 'content-type: application/json' \
    -d '{"error_rate": 1.0, "error_status": 503}' >/dev/null
shot docs/screenshots/product-degraded.png http://127.0.0.1:18080/product/11 1250
