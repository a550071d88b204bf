#!/usr/bin/env bash
# The container image's entrypoint: one image, the role chosen by the command (compose.yaml).
#   migrate  bring the database to the newest schema, then exit (a one-shot service)
#   web      one Reflex backend (GRANIAN_WORKERS processes) on $BACKEND_PORT (8000)
#   upkeep   an RQ worker that also runs the periodic upkeep (run exactly one)
#   worker   an RQ worker that serves the queue only (run as many as you like)
#   proxy    nginx on $PROXY_PORT (8080): the frontend built into the image, and the backends
#            named in $BACKENDS (host:port, space-separated; a name with several addresses,
#            like compose's `web` with replicas, counts as all of them)
# Anything else is run as a command (e.g. `photoai grant ...`).
set -euo pipefail
cd /app
role=${1:-web}
if [ "$#" -gt 0 ]; then shift; fi
# Each process keeps its Prometheus counters in one folder per container; emptied at start.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-/tmp/photoai-metrics}
case "$role" in
  migrate)
    exec photoai migrate
    ;;
  web)
    rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    exec reflex run --env prod --backend-only --backend-host 0.0.0.0 \
      --backend-port "${BACKEND_PORT:-8000}"
    ;;
  upkeep)
    rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    exec python worker.py
    ;;
  worker)
    rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    exec python worker.py --queue-only
    ;;
  proxy)
    backends=()
    for address in ${BACKENDS:-web:8000}; do backends+=(--backend "$address"); done
    conf=$(photoai proxy-config --listen "${PROXY_PORT:-8080}" "${backends[@]}" \
      --static /app/static --run-dir /tmp/photoai-proxy --access-log /dev/stdout)
    exec nginx -p /tmp/photoai-proxy/ -c "$conf" -g 'daemon off;'
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
