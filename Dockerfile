# syntax=docker/dockerfile:1

# --- builder: the package and its dependencies, installed into a venv -------------------
FROM python:3.11.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install .

# --- runtime ---------------------------------------------------------------------------
FROM python:3.11.11-slim-bookworm

LABEL org.opencontainers.image.title="switchboard" \
      org.opencontainers.image.description="ACD call-routing service" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SWITCHBOARD_ALEMBIC_CONFIG=/app/alembic.ini

# The service user owns one directory, its working directory: with nothing configured the
# service keeps its SQLite file there (./switchboard.db), so a bare `docker run` works.
# Production points SWITCHBOARD_DATABASE_URL at PostgreSQL and mounts the root read-only.
RUN groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/switchboard \
        --no-create-home --shell /usr/sbin/nologin switchboard \
    && install --directory --owner=10001 --group=10001 --mode=0750 /var/lib/switchboard

COPY --from=builder /opt/venv /opt/venv
# Root-owned and read-only to the service: it cannot change its own code or migrations.
COPY alembic.ini /app/
COPY migrations /app/migrations
WORKDIR /var/lib/switchboard

USER 10001:10001
EXPOSE 8000
# Docker only: Kubernetes ignores HEALTHCHECK and uses the probes in k8s/base/deployment.yaml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
# One uvicorn process per container (the platform runs more replicas, not more workers); the
# process is PID 1, so SIGTERM reaches it and it drains: open event streams end, in-flight
# requests get --graceful-timeout-s seconds. `docker stop` waits only 10 s by default: give it
# more (`docker stop -t 30`, `docker run --stop-timeout 30`).
ENTRYPOINT ["switchboard"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--graceful-timeout-s", "20"]
