#!/usr/bin/env bash
# Runs every test: formatting and lints, unit and integration tests, and the browser (e2e)
# tests against the release front end, which is built once for the whole run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/env.sh"
cd "$here"
started=$SECONDS

"$here/scripts/setup.sh"

echo "[test] cargo fmt --check"
cargo fmt --all -- --check

echo "[test] clippy (host crates, and the front end for wasm32)"
cargo clippy --workspace --exclude tessera-frontend --all-targets --quiet -- -D warnings
cargo clippy -p tessera-frontend --target wasm32-unknown-unknown --quiet -- -D warnings

# The e2e tests serve this build; it is made once per run, into a directory of its own.
export TESSERA_DIST_DIR="$CARGO_TARGET_DIR/test-dist"
rm -rf "$TESSERA_DIST_DIR"
"$here/scripts/build-frontend.sh"

# One chromedriver for the whole run.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
chromedriver --port="$port" >/dev/null 2>&1 &
driver=$!
trap 'kill "$driver" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
export TESSERA_WEBDRIVER="http://127.0.0.1:$port"

echo "[test] cargo test"
cargo test --workspace --exclude tessera-frontend
# The front end's pure logic (formatting, sparkline geometry) runs on the host too.
cargo test -p tessera-frontend --lib

echo "[test] all passed in $((SECONDS - started)) s"
