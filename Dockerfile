# syntax=docker/dockerfile:1
# Tripwire in a container. Build: `docker build -t tripwire .`; run it with compose.yaml (see README,
# "Running it for real"). The config is mounted at /config/tripwire.toml, the database lives on the
# /data volume, the bot token comes from TRIPWIRE_DISCORD_TOKEN or the file TRIPWIRE_DISCORD_TOKEN_FILE
# names (a Docker secret); nothing secret is ever baked into the image.

FROM python:3.11-slim AS build
WORKDIR /src
# Wheels for Tripwire and all its dependencies are built in a throwaway stage: the final image gets
# no build leftovers and installs without reaching the network a second time.
COPY pyproject.toml README.md ./
COPY bot/ bot/
COPY feeds/ feeds/
COPY detectors/ detectors/
COPY storage/ storage/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib
# A fixed uid/gid (10001), so a host directory or a secret file can be handed to it with `chown 10001`.
RUN groupadd --system --gid 10001 tripwire \
    && useradd --system --uid 10001 --gid tripwire --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin tripwire \
    && mkdir -p /data /config \
    && chown tripwire:tripwire /data
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels tripwire && rm -rf /wheels
# The working directory is the volume, so the default storage.path ("tripwire.db") lands on it too.
WORKDIR /data
VOLUME ["/data"]
USER tripwire:tripwire
# Only used when [http] enabled = true with host = "0.0.0.0" in the config.
EXPOSE 9108
# `tripwire healthcheck` asks /healthz when [http] is enabled, else reads the heartbeat the running bot writes
# beside the database every 10 s (fresh and database readable: healthy; stopped or stuck: unhealthy).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["tripwire", "healthcheck", "--config", "/config/tripwire.toml"]
# SIGTERM starts the graceful stop (feeds, outbox flush, database); a second one exits at once.
STOPSIGNAL SIGTERM
CMD ["tripwire", "run", "--config", "/config/tripwire.toml"]
