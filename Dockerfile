FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY athena ./athena
COPY workers ./workers
COPY beat_schedule.py ./
COPY config ./config
RUN pip install --no-cache-dir '.[dev]' && useradd -m athena && mkdir -p /data && chown athena /data
USER athena
ENV ATHENA_CONFIG_DIR=/app/config
