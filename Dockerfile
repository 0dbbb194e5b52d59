# Minimal image until the daemon lands (see the "Ship it" issue for the hardened, multi-stage one).
FROM python:3.11.7-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /var/lib/flarewatch flarewatch
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor monitor
COPY probes probes
COPY alerting alerting
COPY cfapi cfapi
COPY cfsim cfsim
COPY ops ops
RUN pip install --no-cache-dir . && rm -rf /src
USER flarewatch
WORKDIR /var/lib/flarewatch
STOPSIGNAL SIGTERM
ENTRYPOINT ["flarewatch"]
CMD ["--help"]
