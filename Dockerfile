# hcpcs-tx: the HCPCS Level II FHIR terminology server.
#   docker compose up          (or: docker build -t hcpcs-tx . && docker run -p 8080:8080 hcpcs-tx)
# The store lives in /data (a volume in docker-compose.yml); an empty store is filled with
# the CMS releases shipped in data/releases on first start. Settings are environment
# variables (the same ones `hcpcs-tx serve` reads outside Docker: tests/server/test_docker.py
# runs this file's CMD with this file's ENV, without Docker).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HCPCS_TX_DB=/data/store.sqlite3 \
    HCPCS_TX_RELEASES=/app/data/releases \
    HCPCS_TX_HOST=0.0.0.0 \
    HCPCS_TX_PORT=8080 \
    HCPCS_TX_WORKERS=2 \
    HCPCS_TX_LOG_LEVEL=info

WORKDIR /app
COPY pyproject.toml README.md ./
COPY codesystem ./codesystem
COPY terminology ./terminology
COPY data ./data
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin hcpcs \
    && mkdir -p /data && chown hcpcs /data

USER hcpcs
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"HCPCS_TX_PORT\"]}/r4/metadata', timeout=2)"

CMD ["hcpcs-tx", "serve"]
