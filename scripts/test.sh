#!/usr/bin/env bash
# Sets up everything and runs the whole test suite: lint, format, types, then pytest
# (services on PostgreSQL and Redis, S3 on moto's server, browser journeys in Chromium).
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/services -k credits`; with none,
# pytest also fails when line coverage of photoai/ drops below the floor below.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
bash scripts/services.sh

export PATH="$PWD/.tools/node_modules/.bin:$PATH"
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=0

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# The whole suite must keep line coverage of photoai/ at or above the floor: measured at 85.5 %
# (6465 statements, 936 missed) on 2026-11-27; the plan's target is 80 % and more. A subset run
# reports coverage but is not held to the floor. Browser journeys run the app in subprocesses,
# which are not measured: the figure is what the tests exercise in pytest's own process.
COVERAGE_FLOOR=85
if [ "$#" -eq 0 ]; then
  .venv/bin/pytest --cov-fail-under="$COVERAGE_FLOOR"
else
  .venv/bin/pytest "$@"
fi
