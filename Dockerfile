# One image for every process of the mall; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY shared shared
COPY services services
COPY gateway gateway
COPY mall mall
RUN pip install ".[ops]"
EXPOSE 8000
CMD ["mall", "web", "--service", "gateway", "--host", "0.0.0.0"]
