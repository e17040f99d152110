# memory-proxy: embedded chromadb and the local embedding model, data in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    MEMORY_PROXY_HOST=0.0.0.0 \
    MEMORY_PROXY_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY proxy ./proxy
COPY config ./config
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --home /app proxy \
    && mkdir -p /data && chown proxy /data

USER proxy
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["memory-proxy", "serve", "--config", "config/default.yaml"]
