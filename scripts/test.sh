#!/usr/bin/env bash
# Sets up everything and runs the whole test suite: lint, format, types, then pytest
# (services on PostgreSQL and Redis, S3 on moto's server, browser journeys in Chromium).
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/services -k credits`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
bash scripts/services.sh

export PATH="$PWD/.tools/node_modules/.bin:$PATH"
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=0

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
