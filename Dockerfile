# hcpcs-tx: the HCPCS Level II FHIR terminology server.
#   docker compose up          (or: docker build -t hcpcs-tx . && docker run -p 8080:8080 hcpcs-tx)
# The store lives in /data (a volume in docker-compose.yml); an empty store is filled with
# the CMS releases shipped in data/releases on first start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HCPCS_TX_DB=/data/store.sqlite3 \
    HCPCS_TX_RELEASES=/app/data/releases

WORKDIR /app
COPY pyproject.toml README.md ./
COPY codesystem ./codesystem
COPY terminology ./terminology
COPY data ./data
RUN pip install --no-cache-dir . && mkdir -p /data

VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/r4/metadata', timeout=2)"

CMD ["hcpcs-tx", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
