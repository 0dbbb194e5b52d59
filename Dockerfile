# flarewatch: the monitoring daemon as a container image (deploy/container/README.md).
#
#   docker build -t flarewatch:0.1.0 .
#   docker run --read-only -v flarewatch-state:/var/lib/flarewatch \
#     -v "$PWD/flarewatch.yaml:/etc/flarewatch/flarewatch.yaml:ro" ... flarewatch:0.1.0
#
# The base is pinned by exact version, not by digest: this file was written where no image
# could be pulled, so no digest could be checked, and an unverified digest would be worse than
# none. Pin it in your own build with `FROM python:3.11.7-slim-bookworm@sha256:…` after
# `docker pull`. Both stages use the same base: the virtual environment built in the first
# refers to its interpreter, /usr/local/bin/python3.11.
#
# tests/integration/deploy/test_container.py runs this file's build and start steps outside
# a container (no Docker engine in CI): keep the builder to WORKDIR/ENV/COPY/RUN and every
# RUN of the builder a call of deploy/container/install.sh.

FROM python:3.11.7-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor monitor
COPY probes probes
COPY alerting alerting
COPY cfapi cfapi
COPY cfsim cfsim
COPY ops ops
COPY config config
COPY deploy/container deploy/container
RUN deploy/container/install.sh /opt/flarewatch /etc/flarewatch /src

FROM python:3.11.7-slim-bookworm
# The repository URL and commit are not known to this file: pass them at build time
# (`--build-arg SOURCE_URL=https://… --build-arg REVISION=$(git rev-parse HEAD)`).
ARG VERSION=0.1.0
ARG SOURCE_URL=""
ARG REVISION=""
LABEL org.opencontainers.image.title="flarewatch" \
      org.opencontainers.image.description="Keep a Cloudflare estate healthy: probes, metrics, alerts and operator tooling for Workers, Pages, KV, R2, D1 and DNS." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.7-slim-bookworm"

# A fixed UID/GID (10001), so volume and secret ownership can be set from the host; the state
# volume's mount point is created owned by it (Docker copies that to a new named volume).
RUN groupadd --system --gid 10001 flarewatch \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /var/lib/flarewatch --shell /usr/sbin/nologin flarewatch \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/flarewatch

COPY --from=builder /opt/flarewatch /opt/flarewatch
COPY --from=builder /etc/flarewatch /etc/flarewatch

# Nothing is written outside the state volume: bytecode was compiled at build time, logs go to
# stderr, secrets are read from /run/secrets. The image runs with --read-only and no tmpfs.
ENV PATH=/opt/flarewatch/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLAREWATCH_HEALTHCHECK_URL=http://127.0.0.1:9310/healthz

USER 10001:10001
WORKDIR /var/lib/flarewatch
VOLUME ["/var/lib/flarewatch"]
EXPOSE 9310

# /healthz: 200 while the event loop answers and the scheduler's heartbeat is fresh. The first
# round of probes may take a while against a slow API: 60 s of grace before failures count.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/flarewatch/bin/python", "-I", "-S", "/opt/flarewatch/libexec/flarewatch-healthcheck.py"]

# The daemon stops gracefully on SIGTERM within 10 s (docker stop waits 10 s by default).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/flarewatch/bin/flarewatch"]
CMD ["run", "-c", "/etc/flarewatch/flarewatch.yaml"]
