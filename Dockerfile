# syntax=docker/dockerfile:1
# One image for every role of photoai (scripts/container.sh picks it by command): Reflex web
# backend, RQ worker, upkeep, the nginx proxy that serves the frontend, and migrations.
# The frontend is built here, once, for the address users open: API_URL (build argument).
# Behind HTTPS any host name works (the page swaps "localhost" for its own host and drops the
# port); over plain HTTP the port must be the proxy's published one. See docs/deployment.md.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG API_URL=http://localhost:8080
ARG BUN_VERSION=1.4.5
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=0 \
    PATH=/opt/venv/bin:/app/.tools/node_modules/.bin:$PATH
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm unzip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Reflex builds the pages with bun, which the npm registry publishes.
RUN npm install --prefix .tools --no-audit --no-fund "bun@${BUN_VERSION}"
COPY pyproject.toml README.md rxconfig.py worker.py alembic.ini ./
COPY photoai ./photoai
COPY alembic ./alembic
COPY assets ./assets
COPY reflex.lock ./reflex.lock
COPY scripts/container.sh ./scripts/container.sh
# Editable, so the package stays at /app/photoai where alembic.ini and rxconfig.py are.
RUN python -m venv /opt/venv && pip install -e .
RUN REFLEX_API_URL="$API_URL" reflex export --frontend-only --no-zip --env prod \
 && cp -r .web/build/client /app/static

FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx-light libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 photoai \
 && mkdir /data && chown photoai:photoai /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=photoai:photoai /app /app
ENV PATH=/opt/venv/bin:/app/.tools/node_modules/.bin:$PATH \
    PYTHONUNBUFFERED=1 \
    REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=0 \
    PHOTOAI_DATA_DIR=/data PHOTOAI_LOG_FORMAT=json
USER photoai
WORKDIR /app
EXPOSE 8000 8080
ENTRYPOINT ["bash", "scripts/container.sh"]
CMD ["web"]
