# crosswatch in a container. Everything it keeps (config.toml, schedules.toml, snapshots/,
# .cw_state/) lives in the /config volume; docs/install.md ("In a container") has the
# compose file and every step.
#
#   docker build -t crosswatch .
#   docker run --rm -it -v "$PWD/config:/config" crosswatch init        # a starter config.toml
#   docker run --rm -it -v "$PWD/config:/config" crosswatch auth trakt  # any command, same user
#   docker run -d --name crosswatch -v "$PWD/config:/config" -p 127.0.0.1:8787:8787 \
#       --stop-timeout 10 crosswatch
#
# The container runs as uid 10001: a bind-mounted ./config must be writable by it
# (sudo chown 10001:10001 config), or run the container as the folder's owner (--user).
# Stopping: SIGTERM, and 10 s before SIGKILL (docker's default; the systemd unit's
# TimeoutStopSec=10s); crosswatch itself gives up waiting after daemon.shutdown_timeout_s (4 s).

FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CROSSWATCH_CONFIG_DIR=/config \
    CROSSWATCH_INIT_LISTEN=0.0.0.0:8787
RUN groupadd --system --gid 10001 crosswatch \
 && useradd --system --uid 10001 --gid crosswatch --home-dir /config --no-create-home \
        --shell /usr/sbin/nologin crosswatch \
 && install -d -o crosswatch -g crosswatch -m 0700 /config
COPY --from=build /wheels /wheels
# tzdata: time zones for schedules whatever the base image carries
RUN pip install --no-cache-dir --disable-pip-version-check /wheels/*.whl tzdata \
 && rm -rf /wheels
USER crosswatch
WORKDIR /config
VOLUME /config
# GET /healthz, /metrics and Plex webhooks; daemon.listen must be 0.0.0.0:8787 for the published
# port to reach it (`crosswatch init` writes that here, from CROSSWATCH_INIT_LISTEN)
EXPOSE 8787
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as r; r.urlopen('http://127.0.0.1:8787/healthz', timeout=8)"]
ENTRYPOINT ["crosswatch", "--config-dir", "/config"]
CMD ["run"]
