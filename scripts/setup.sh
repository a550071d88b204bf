#!/usr/bin/env bash
# Installs what photoai needs into this checkout: a Python venv, bun (from the npm registry,
# which Reflex uses to build the pages) and, with --test, Debian's Chromium, axe-core (the
# accessibility checker the browser tests inject into every page) and nginx (the layout's proxy).
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

BUN_VERSION=1.4.5
AXE_CORE_VERSION=4.14.1
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.photoai-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e ".[dev]"
  touch "$stamp"
fi

if [ ! -x .tools/node_modules/.bin/bun ]; then
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --loglevel=error "bun@${BUN_VERSION}"
fi

if [ "${1:-}" = "--test" ]; then
  if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  # The proxy of the multi-process layout (scripts/topology.sh, tests/deploy).
  if [ ! -x /usr/sbin/nginx ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  fi
  if ! grep -qs "\"version\": \"${AXE_CORE_VERSION}\"" .tools/node_modules/axe-core/package.json; then
    npm install --prefix .tools --no-audit --no-fund --loglevel=error "axe-core@${AXE_CORE_VERSION}"
  fi
fi
