# kpiml model service: `kpiml serve` in a container.
#
# Build:  docker build -t kpiml-serve .
# Run:    docker run --rm -p 127.0.0.1:8000:8000 \
#           -v "$PWD/kpiml-project/model:/models/model:ro" \
#           -v "$PWD/decisions:/data/decisions" \
#           -e KPIML_API_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" \
#           kpiml-serve
# Registry instead of a folder:
#         docker run ... -e MLFLOW_TRACKING_URI=http://mlflow:5000 kpiml-serve \
#           models:/churn@champion --host 0.0.0.0 --api-key-env KPIML_API_KEY --decision-log /data/decisions
#
# Inside the container the service must listen on 0.0.0.0 to be reachable through the
# published port, so the default command requires an API key (KPIML_API_KEY); publish the port
# on 127.0.0.1 as above unless it is meant to be reached from other machines. The bundle is
# mounted read-only: its SHA-256 manifest is checked at start and on every reload. The decision
# log (every prediction, fsynced before it is answered) goes to the /data volume, which
# `kpiml monitor` reads.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip install "uv==0.13.9"
WORKDIR /src
COPY requirements/runtime.lock requirements/runtime.lock
RUN uv venv /opt/kpiml && uv pip sync --python /opt/kpiml/bin/python requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN uv pip install --python /opt/kpiml/bin/python --no-deps .

FROM python:3.11-slim
# libgomp1: OpenMP runtime that LightGBM and XGBoost need
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 kpiml \
    && mkdir -p /models /data/decisions \
    && chown -R kpiml /data
COPY --from=build /opt/kpiml /opt/kpiml
ENV PATH="/opt/kpiml/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
USER kpiml
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"
ENTRYPOINT ["kpiml", "serve"]
CMD ["/models/model", "--host", "0.0.0.0", "--port", "8000", "--api-key-env", "KPIML_API_KEY", "--decision-log", "/data/decisions"]
