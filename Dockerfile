# syntax=docker/dockerfile:1
# Otklik service image. `docker compose up -d` runs it with PostgreSQL 16 (docker-compose.yml).
# Base pinned to one Python patch release and one Debian release; both stages use the same one,
# so the virtualenv built in the first works unchanged in the second.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/otklik/venv
# Dependencies first, in their own layer: it is rebuilt only when the pinned versions change.
COPY requirements/constraints.txt /src/requirements/constraints.txt
RUN /opt/otklik/venv/bin/pip install --requirement /src/requirements/constraints.txt
# Then the service itself; its dependencies are already there at the pinned versions.
COPY pyproject.toml README.md LICENSE /src/
COPY survey_flow /src/survey_flow
COPY storage /src/storage
COPY bot /src/bot
COPY reports /src/reports
RUN /opt/otklik/venv/bin/pip install --no-deps /src \
    && /opt/otklik/venv/bin/pip check

FROM ${PYTHON_IMAGE}
# pg_dump must be of the PostgreSQL server's major version (16 in docker-compose.yml) or newer:
# Debian bookworm ships 15, so the client comes from the PostgreSQL project's own Debian
# repository (apt.postgresql.org).
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Not pinned to exact Debian versions on purpose: both repositories drop superseded versions
# (security fixes), and a pin would break the build rather than keep it reproducible.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && install -d /usr/share/postgresql-common/pgdg \
    && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
        https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-16 \
    && apt-get purge -y curl && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* \
    && pg_dump --version | grep -q ' 16\.'
# A fixed numeric id: volumes keep their owner across rebuilds, and runAsNonRoot can check it.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/otklik --shell /usr/sbin/nologin otklik \
    && install -d -m 0700 -o otklik -g otklik /var/lib/otklik
COPY --from=build /opt/otklik/venv /opt/otklik/venv
COPY deploy/docker/otklik.toml /etc/otklik/config.toml
ENV PATH=/opt/otklik/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    OTKLIK_SERVICE__HEALTH_LISTEN=0.0.0.0:8090
USER 10001:10001
WORKDIR /var/lib/otklik
VOLUME ["/var/lib/otklik"]
EXPOSE 8080 8090
# /healthz is on in the image's settings (OTKLIK_SERVICE__HEALTH_LISTEN above, kept when a
# config.toml of one's own is mounted): 200 when the database answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8090/healthz', timeout=4).status != 200)"]
CMD ["otklik", "--config", "/etc/otklik/config.toml", "run"]
