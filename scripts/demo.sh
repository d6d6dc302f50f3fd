#!/usr/bin/env bash
# Builds everything and starts the demo: the data services, then the BFF serving the release
# front end, on embedded defaults. Ctrl-C stops it all.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/env.sh"
cd "$here"

"$here/scripts/setup.sh"
"$here/scripts/build-frontend.sh"
echo "[demo] building the BFF and the services"
cargo build --quiet --profile server -p tessera-bff -p tessera-services
bin="$CARGO_TARGET_DIR/server"

data="${TESSERA_DATA_DIR:-$here/data}"
# The key ring the BFF signs shoppers' tokens and vault keys with; the services hold its public
# halves (tessera-bff keys generate writes both).
if ! compgen -G "$data/keys/*.key" >/dev/null; then
  "$bin/tessera-bff" keys generate --dir "$data/keys" --kid demo-1 >/dev/null
fi
export TESSERA_KEYS_DIR="$data/keys"
"$bin/tessera-services" --data-dir "$data" --bff-keys "$data/keys" all &
services=$!
trap 'kill "$services" 2>/dev/null; wait "$services" 2>/dev/null' EXIT INT TERM

# Wait until the services answer (first start seeds their stores).
for _ in $(seq 1 600); do
  if curl -fsS http://127.0.0.1:8081/healthz >/dev/null 2>&1 &&
     curl -fsS http://127.0.0.1:8085/healthz >/dev/null 2>&1; then break; fi
  kill -0 "$services" 2>/dev/null || { echo "[demo] the services failed to start" >&2; exit 1; }
  sleep 0.1
done

"$bin/tessera-bff" --dist-dir "$here/dist"
