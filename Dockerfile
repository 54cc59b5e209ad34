# driftd container image.
#
#   docker build -t driftd .
#   docker run --rm -v "$PWD/driftd.yaml:/etc/driftd/config.yaml:ro" -p 9108:9108 driftd
#
# Two stages: `builder` builds a wheel of the project and installs it, with its dependencies,
# into a virtualenv at /opt/venv; the final stage copies only that virtualenv onto a clean
# python:3.11-slim (no compiler, no pip cache, no source tree) and runs it as uid 10001.
#
# The configuration is read from /etc/driftd/config.yaml (mount a file there, or pass
# `run -c OTHER`). Relative paths in it are relative to /etc/driftd, which is read-only for the
# daemon: put a SQLite database in the writable volume with an absolute URL,
#   storage: {url: "sqlite:////var/lib/driftd/driftd.db"}
# or use PostgreSQL (postgresql+psycopg://...). Secrets come from the environment (${VAR}).

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so this layer is reused while only code changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && /opt/venv/bin/pip install --upgrade pip wheel \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt

# Then the project: a wheel (what `pip install driftd` would get), installed without its source tree.
COPY README.md ./
COPY detectors ./detectors
COPY monitor ./monitor
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && /opt/venv/bin/pip install --no-deps /tmp/wheels/driftd-*.whl \
 && /opt/venv/bin/pip uninstall --yes pip wheel \
 && /opt/venv/bin/driftd --help > /dev/null

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="driftd" \
      org.opencontainers.image.description="Drift and model-performance monitoring daemon: Kafka in, Prometheus metrics and retraining webhooks out." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DRIFTD_HEALTHCHECK_URL=http://127.0.0.1:9108/healthz

# A fixed, unprivileged uid/gid (Kubernetes' runAsNonRoot can check a numeric USER).
RUN groupadd --system --gid 10001 driftd \
 && useradd --system --uid 10001 --gid driftd --home-dir /var/lib/driftd --no-create-home \
        --shell /usr/sbin/nologin driftd \
 && mkdir -p /etc/driftd /var/lib/driftd \
 && chown driftd:driftd /var/lib/driftd \
 && chmod 0750 /var/lib/driftd

COPY --from=builder /opt/venv /opt/venv

WORKDIR /var/lib/driftd
VOLUME ["/var/lib/driftd"]
USER 10001:10001

# /metrics, /healthz, /readyz (server.port). Change DRIFTD_HEALTHCHECK_URL with server.port.
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(os.environ['DRIFTD_HEALTHCHECK_URL'], timeout=4).status == 200 else 1)"]

# SIGTERM finishes the current batch, checkpoints and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["driftd"]
CMD ["run", "-c", "/etc/driftd/config.yaml"]
