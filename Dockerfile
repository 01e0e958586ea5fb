# newsbot image. Build: docker build -t newsbot .   (docker-compose.yml does this for you)
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 NEWSBOT_LOG_FORMAT=json
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir .
COPY config ./config
RUN useradd --create-home newsbot && mkdir -p /app/data && chown newsbot /app/data
USER newsbot
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)" || exit 1
CMD ["newsbot", "run"]
