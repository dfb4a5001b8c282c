FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY reminders ./reminders
RUN pip install --no-cache-dir '.[postgres]'
COPY config ./config
# The service's own user owns its data folder: a named volume mounted on /data
# starts with this ownership, so the console outbox and SQLite files can be written.
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin reminders \
    && mkdir -p /data && chown reminders:reminders /data && chmod 0700 /data
ENV REMINDERS_DATA_DIR=/data \
    REMINDERS_CONFIG_DIR=/app/config
VOLUME ["/data"]
USER reminders
ENTRYPOINT ["reminders"]
CMD ["serve"]
