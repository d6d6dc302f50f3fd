#!/usr/bin/env bash
# Runs every benchmark and rewrites its section of docs/BENCHMARKS.md. Installs what the
# benchmarks compare against (static-web-server, from crates.io) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/env.sh

if ! command -v static-web-server >/dev/null; then
    echo "[bench] installing static-web-server (crates.io, a few minutes)"
    cargo install static-web-server --locked --root "$TESSERA_TOOLS"
fi

./scripts/build-frontend.sh
cargo build --profile server -p tessera-bff -p tessera-services -p tessera-e2e --examples --bins

run() { "$CARGO_TARGET_DIR/server/examples/$1" "${@:2}"; }
run composite_bench 600
run tracing_bench 500
run reload_bench 100
run warmup_bench
run identity_bench
run memory_bench
run soak --minutes 10
run cache_bench
run uncached_bench
run static_bench dist
TESSERA_DIST_DIR=dist run page_load
TESSERA_DIST_DIR=dist run network_load
TESSERA_DIST_DIR=dist run lighthouse
if [ -d data ]; then
    run summary_bench data
else
    echo "[bench] skipping summary_bench: run ./scripts/demo.sh once to seed data/"
fi
