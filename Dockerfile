# Otklik service image: `docker compose up` runs it with PostgreSQL (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY survey_flow survey_flow
COPY storage storage
COPY bot bot
COPY reports reports
RUN pip install --no-cache-dir . && useradd --system --home /app otklik
USER otklik
EXPOSE 8080 8090
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8090/healthz').status == 200 else 1)"
CMD ["otklik", "--config", "/app/config.toml", "run"]
