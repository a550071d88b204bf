#!/usr/bin/env bash
# Sets up and runs photoai on its embedded defaults: SQLite and local files under ./data,
# the demo AI provider, billing off, email to ./data/outbox.
# When Redis answers at PHOTOAI_REDIS_URL (default redis://127.0.0.1:6379/0) every core is used:
# Reflex keeps its state in Redis on the next database (/1 by default; REFLEX_REDIS_URL set by
# you wins) with one backend process per core, and PHOTOAI_JOB_WORKERS RQ worker processes (ten
# per core, at most 40, see docs/operator-guide.md "Capacity") run the jobs.
# Without Redis: one backend process, and jobs run inside it.
# Open http://localhost:${PORT:-3000}
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export PATH="$PWD/.tools/node_modules/.bin:$PATH"
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=0
PORT=${PORT:-3000}
export PHOTOAI_BASE_URL=${PHOTOAI_BASE_URL:-http://localhost:$PORT}

.venv/bin/photoai migrate
eval "$(.venv/bin/photoai serve-plan)"
[ -n "$REFLEX_REDIS_URL" ] || unset REFLEX_REDIS_URL
# One folder where the web and worker processes keep their Prometheus counters, so /metrics
# adds them all up; emptied at each start as prometheus-client requires.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-${PHOTOAI_DATA_DIR:-./data}/metrics}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# One worker.py: it loads what jobs need once, then forks its queue processes from that.
.venv/bin/python worker.py --processes "$PHOTOAI_JOB_WORKERS" &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM
.venv/bin/reflex run --env prod --single-port --backend-port "$PORT"
