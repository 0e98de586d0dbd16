# One image for every Footfall process: api, worker, scheduler, migrate.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
RUN pip install --no-cache-dir -c constraints.txt . && useradd --system --home /app footfall
USER footfall
EXPOSE 8000
CMD ["footfall", "serve"]
