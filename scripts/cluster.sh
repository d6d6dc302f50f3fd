#!/usr/bin/env bash
# Runs Tessera as a cluster on this machine: the demo services, one Redis, N BFF replicas
# (default 3), nginx balancing them (config/cluster/nginx.conf) and Varnish in front of nginx
# as the edge cache (config/cluster/varnish.vcl), each replica with the settings of
# config/cluster/bff.env and purging the edge. Prints the URLs; Ctrl-C stops everything.
#
#   ./scripts/cluster.sh [replicas]   # TESSERA_CLUSTER_PORT (8080): nginx; TESSERA_EDGE_PORT
#                                     # (6081): Varnish
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/env.sh"
cd "$here"
replicas="${1:-3}"
port="${TESSERA_CLUSTER_PORT:-8080}"
edge_port="${TESSERA_EDGE_PORT:-6081}"
[[ "$replicas" =~ ^[1-9][0-9]?$ ]] || { echo "usage: $0 [replicas 1-99]" >&2; exit 2; }

"$here/scripts/setup.sh"
if [ -z "${TESSERA_SKIP_BUILD:-}" ]; then
  "$here/scripts/build-frontend.sh"
  echo "[cluster] building the BFF and the services"
  cargo build --quiet --profile server -p tessera-bff -p tessera-services
fi
bin="$CARGO_TARGET_DIR/server"
data="${TESSERA_DATA_DIR:-$here/data}"
run="$(mktemp -d "${TMPDIR:-/tmp}/tessera-cluster.XXXXXX")"
pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$run"
}
trap stop EXIT INT TERM

wait_for() { # url what pid
  for _ in $(seq 1 600); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    kill -0 "$3" 2>/dev/null || { echo "[cluster] $2 failed to start" >&2; exit 1; }
    sleep 0.1
  done
  echo "[cluster] $2 did not become ready" >&2; exit 1
}

# The replicas' settings, with the key ring and Redis of this run.
set -a
# shellcheck source=../config/cluster/bff.env
source "$here/config/cluster/bff.env"
set +a
export TESSERA_KEYS_DIR="$data/keys"
export TESSERA_EDGE_PURGE_URL="http://127.0.0.1:$edge_port/"
redis_port="${TESSERA_REDIS_URL##*:}"
if ! compgen -G "$data/keys/*.key" >/dev/null; then
  "$bin/tessera-bff" keys generate --dir "$data/keys" --kid demo-1 >/dev/null
fi

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$run" >"$run/redis.log" 2>&1 &
pids+=($!)
"$bin/tessera-services" --data-dir "$data" --bff-keys "$data/keys" all >"$run/services.log" 2>&1 &
pids+=($!)
# Each service answers once its store is open (the first start seeds them all).
for service_port in 8081 8082 8083 8084 8085; do
  wait_for "http://127.0.0.1:$service_port/healthz" "the services" "${pids[1]}"
done

servers=""
for n in $(seq 1 "$replicas"); do
  listen="127.0.0.1:$((8090 + n))"
  TESSERA_LISTEN="$listen" "$bin/tessera-bff" --dist-dir "$here/dist" >"$run/bff-$n.log" 2>&1 &
  pids+=($!)
  servers+="        server $listen max_fails=2 fail_timeout=5s;\n"
done
# Into the balancer only once ready (warmed up): open-source nginx has no active checks.
for n in $(seq 1 "$replicas"); do
  wait_for "http://127.0.0.1:$((8090 + n))/readyz" "replica $n" "${pids[$((n + 1))]}"
done

mkdir -p "$run/nginx"
awk -v servers="$servers" -v port="$port" '
  /# tessera:replicas/ { print; printf "%s", servers; skip = 1; next }
  /# \/tessera:replicas/ { skip = 0 }
  skip { next }
  { sub(/listen 127\.0\.0\.1:8080;/, "listen 127.0.0.1:" port ";"); print }
' "$here/config/cluster/nginx.conf" >"$run/nginx/nginx.conf"
nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" 2>"$run/nginx.log" &
pids+=($!)
wait_for "http://127.0.0.1:$port/healthz" "nginx" "${pids[-1]}"

sed "s/\.port = \"8080\";/.port = \"$port\";/" "$here/config/cluster/varnish.vcl" >"$run/edge.vcl"
varnishd -F -j none -s malloc,256m -a "127.0.0.1:$edge_port" -f "$run/edge.vcl" \
  -n "$run/varnish" >"$run/varnish.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$edge_port/healthz" "varnish" "${pids[-1]}"

echo "Tessera cluster: $replicas replicas behind nginx at http://127.0.0.1:$port, with Varnish in front at http://127.0.0.1:$edge_port (logs in $run)"
echo "Ctrl-C stops it."
wait -n "${pids[@]}" || true
echo "[cluster] a process stopped; stopping the rest" >&2
