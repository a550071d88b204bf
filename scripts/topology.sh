#!/usr/bin/env bash
# The multi-process layout on one machine, from plain processes (no containers): nginx in
# front (static frontend, websocket, sticky by tab), WEB Reflex backends, WORKERS RQ workers,
# run by honcho from a generated Procfile. PostgreSQL, Redis and (optionally) S3 are yours:
# set PHOTOAI_DATABASE_URL, PHOTOAI_REDIS_URL and PHOTOAI_STORAGE_BACKEND=s3 ... first
# (docs/deployment.md). On several hosts, run the same pieces there (see the docs).
#   WEB=2 WORKERS=2 PORT=8080 BACKEND_PORT=8001 bash scripts/topology.sh
# Open http://localhost:$PORT
set -euo pipefail
cd "$(dirname "$0")/.."
WEB=${WEB:-2}
WORKERS=${WORKERS:-2}
PORT=${PORT:-8080}
BACKEND_PORT=${BACKEND_PORT:-8001}
RUN_DIR=${RUN_DIR:-${PHOTOAI_DATA_DIR:-./data}/topology}
# The address the browser-side code is built with: the proxy's own (Reflex swaps "localhost"
# for the page's host name, and behind HTTPS drops the port too).
API_URL=${API_URL:-http://localhost:$PORT}

export PATH="$PWD/.tools/node_modules/.bin:$PATH"
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=0
export PHOTOAI_BASE_URL=${PHOTOAI_BASE_URL:-$API_URL}
# Client addresses come from the proxy's X-Forwarded-For (login throttling, logs).
export REFLEX_TRUSTED_PROXY_HOPS=${REFLEX_TRUSTED_PROXY_HOPS:-1}
# Each backend is one process here; more backends, not more workers per backend.
export GRANIAN_WORKERS=${GRANIAN_WORKERS:-1}
: "${PHOTOAI_REDIS_URL:?the layout shares state through Redis: set PHOTOAI_REDIS_URL}"
export REFLEX_REDIS_URL=${REFLEX_REDIS_URL:-$(.venv/bin/python -c \
  'import os; from photoai.serve_plan import reflex_state_url as u; print(u(os.environ["PHOTOAI_REDIS_URL"]))')}

mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
# The frontend is built once per API_URL into the run folder.
STATIC="$RUN_DIR/static"
if [ ! -f "$STATIC/.api_url" ] || [ "$(cat "$STATIC/.api_url")" != "$API_URL" ]; then
  REFLEX_API_URL=$API_URL .venv/bin/reflex export --frontend-only --no-zip --env prod
  rm -rf "$STATIC" && cp -r .web/build/client "$STATIC"
  echo "$API_URL" > "$STATIC/.api_url"
fi

.venv/bin/photoai migrate
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$RUN_DIR/metrics}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# Each backend deletes Reflex's one-process state files (.states/) as it starts; several
# starting at once race on the same files and the loser exits. Clear them once, here.
rm -rf .states
backends=()
for ((i = 0; i < WEB; i++)); do backends+=(--backend "127.0.0.1:$((BACKEND_PORT + i))"); done
procfile=$(.venv/bin/photoai procfile --listen "$PORT" "${backends[@]}" --workers "$WORKERS" \
  --static "$STATIC" --run-dir "$RUN_DIR")
exec .venv/bin/honcho --procfile "$procfile" --app-root "$PWD" --no-prefix start
