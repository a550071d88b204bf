#!/usr/bin/env bash
# Sets up and runs photoai on its embedded defaults: SQLite and local files under ./data,
# the demo AI provider, billing off, email to ./data/outbox. Uses Redis on 127.0.0.1:6379 for
# jobs when it is reachable; without it, jobs run inside the web process.
# Open http://localhost:${PORT:-3000}
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export PATH="$PWD/.tools/node_modules/.bin:$PATH"
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=0
PORT=${PORT:-3000}
export PHOTOAI_BASE_URL=${PHOTOAI_BASE_URL:-http://localhost:$PORT}

.venv/bin/photoai migrate
# One folder where the web and worker processes keep their Prometheus counters, so /metrics
# adds them all up; emptied at each start as prometheus-client requires.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-${PHOTOAI_DATA_DIR:-./data}/metrics}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
.venv/bin/python worker.py &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
.venv/bin/reflex run --env prod --single-port --backend-port "$PORT"
