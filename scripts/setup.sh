#!/usr/bin/env bash
# Installs everything Tessera needs on a fresh Debian machine, idempotently.
#
# Nothing is downloaded from outside the package registries (crates.io, rustup targets,
# Debian apt, npm). Trunk is configured (Trunk.toml, offline = true) to use the tools
# installed here and never fetch its own.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$here/scripts/env.sh"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# The wasm-bindgen version is whatever Cargo.lock pins; the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$here/Cargo.lock"
}

TRUNK_VERSION=0.21.14
# binaryen 108 from Debian silently breaks wasm-bindgen 0.2.13x output (see docs/TOOLCHAIN notes);
# the npm package ships a working wasm-opt. Trunk.toml pins the same version.
BINARYEN_VERSION=132
# Cloudflare's own runtime (workerd ships inside the npm package) for the CDN export test.
# 4.86.0 is the last wrangler that runs on Debian's Node 20; later ones need Node 22.
WRANGLER_VERSION=4.86.0
# Lighthouse for the product page's mobile audit (e2e/examples/lighthouse.rs), run against
# Debian's Chromium. 12.8 is the last line that runs on Debian's Node 20 (13 needs Node 22).
LIGHTHOUSE_VERSION=12.8.2

# 1. The wasm32 target.
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "wasm32-unknown-unknown target: present"
else
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# 2. Debian packages: Chromium + driver for e2e, redis-server for the shared cache,
#    nginx and wrk for benchmarks and the cluster, Varnish (with varnish-modules' xkey for
#    tag purges) as the CDN-style edge cache.
apt_pkgs=(chromium chromium-driver redis-server nginx-light wrk brotli varnish varnish-modules)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq || true
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts services on install; the project starts its own on ephemeral ports.
  "${sudo_cmd[@]}" service redis-server stop >/dev/null 2>&1 || true
  "${sudo_cmd[@]}" service nginx stop >/dev/null 2>&1 || true
  "${sudo_cmd[@]}" service varnish stop >/dev/null 2>&1 || true
else
  say "Debian packages: present"
fi

# 3. trunk (0.22 needs a newer Rust than this machine has).
if command -v trunk >/dev/null && trunk --version | grep -q "$TRUNK_VERSION"; then
  say "trunk $TRUNK_VERSION: present"
else
  say "compiling trunk $TRUNK_VERSION (takes about 9 minutes on 2 cores)..."
  cargo install trunk --version "$TRUNK_VERSION" --locked --root "$TESSERA_TOOLS"
fi

# 4. wasm-bindgen-cli, exactly the version Cargo.lock pins.
wbg="$(wasm_bindgen_version)"
if [ -z "$wbg" ]; then
  say "Cargo.lock has no wasm-bindgen yet; generating the lockfile"
  (cd "$here" && cargo generate-lockfile)
  wbg="$(wasm_bindgen_version)"
fi
if command -v wasm-bindgen >/dev/null && wasm-bindgen --version | grep -q " $wbg\$"; then
  say "wasm-bindgen-cli $wbg: present"
else
  # Without --locked: its own lockfile pins a webpki-roots release the registry no longer serves.
  say "compiling wasm-bindgen-cli $wbg (takes 3-7 minutes)..."
  cargo install wasm-bindgen-cli --version "$wbg" --root "$TESSERA_TOOLS"
fi

# 5. wasm-opt from the binaryen npm package.
if [ -x "$TESSERA_TOOLS/binaryen/node_modules/binaryen/bin/wasm-opt" ] &&
  "$TESSERA_TOOLS/binaryen/node_modules/binaryen/bin/wasm-opt" --version | grep -q "version $BINARYEN_VERSION"; then
  say "wasm-opt (binaryen $BINARYEN_VERSION): present"
else
  say "installing wasm-opt from npm binaryen@$BINARYEN_VERSION"
  mkdir -p "$TESSERA_TOOLS/binaryen"
  (cd "$TESSERA_TOOLS/binaryen" && npm install --silent --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >/dev/null)
fi
mkdir -p "$TESSERA_TOOLS/bin"
ln -sf "$TESSERA_TOOLS/binaryen/node_modules/binaryen/bin/wasm-opt" "$TESSERA_TOOLS/bin/wasm-opt"

# An npm package pinned at `version` in a folder of its own, its binary linked into bin/.
npm_tool() {
  local name="$1" version="$2" pkg="$TESSERA_TOOLS/$1/node_modules/$1/package.json"
  if [ -f "$pkg" ] && [ "$(node -p "require('$pkg').version")" = "$version" ]; then
    say "$name $version: present"
  else
    say "installing $name@$version from npm"
    mkdir -p "$TESSERA_TOOLS/$name"
    (cd "$TESSERA_TOOLS/$name" && npm install --silent --no-audit --no-fund --save-exact "$name@$version" >/dev/null)
  fi
  ln -sf "$TESSERA_TOOLS/$name/node_modules/.bin/$name" "$TESSERA_TOOLS/bin/$name"
}

# 6. wrangler (`wrangler pages dev` serves the CDN export with Cloudflare Pages' _headers rules).
npm_tool wrangler "$WRANGLER_VERSION"

# 7. Lighthouse (it brings no browser: CHROME_PATH names Debian's Chromium).
npm_tool lighthouse "$LIGHTHOUSE_VERSION"

say "tools ready in $TESSERA_TOOLS/bin"
