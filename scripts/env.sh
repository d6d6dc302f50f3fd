# Shared environment for Tessera's scripts (sourced, not executed).
#
# Tools live outside the clone so a fresh clone on the same machine reuses them; one shared
# cargo target dir keeps rebuilds incremental across clones.
export TESSERA_TOOLS="${TESSERA_TOOLS:-$HOME/.cache/tessera/tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
export PATH="$TESSERA_TOOLS/bin:$PATH"
# Trunk must never try to download its own wasm-bindgen or wasm-opt.
export TRUNK_OFFLINE=true
# A CI run builds a fresh clone once: incremental caches would only pile up on disk (tens of
# GB across clones in one shared target dir) and never be read again.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
fi
