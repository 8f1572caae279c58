# syntax=docker/dockerfile:1
# Production image: one image for web, worker, scheduler and migrate (docker-compose.yml).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements/main.txt requirements/main.txt
# Wheels only: the final image needs no compiler.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --only-binary=:all: -r requirements/main.txt
COPY pyproject.toml README.md ./
COPY billhive billhive
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    BILLHIVE_ENV=production BILLHIVE_INSTANCE_PATH=/var/lib/billhive \
    BILLHIVE_WEB_HOST=0.0.0.0 BILLHIVE_LOG_JSON=true
RUN useradd --system --uid 10001 --home-dir /var/lib/billhive --create-home billhive
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["billhive", "web"]
