# Runtime dependencies only (`.[flower]`: the project's dependencies plus Flower); the build context is
# what .dockerignore lets in: code and config/*.json, never .env, config/local.json, var/ or .venv.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY athena ./athena
COPY workers ./workers
COPY beat_schedule.py ./
COPY config ./config
RUN pip install --no-cache-dir -c constraints.txt '.[flower]' && useradd -m athena && mkdir -p /data && chown athena /data
USER athena
ENV ATHENA_CONFIG_DIR=/app/config
