FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY reminders ./reminders
RUN pip install --no-cache-dir '.[postgres]'
COPY config ./config
ENV REMINDERS_DATA_DIR=/data \
    REMINDERS_CONFIG_DIR=/app/config
VOLUME ["/data"]
USER nobody
ENTRYPOINT ["reminders"]
CMD ["serve"]
