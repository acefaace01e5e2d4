# tuneloop's images, from one Dockerfile; LOCK picks which (requirements/LOCK.txt):
#   service  dataprep, registry, controller: no torch, no Ray (a few hundred MB)
#   ml-cpu   trainer, evaluator, serving and the Ray nodes, CPU torch
#   ml-cuda  the same with CUDA torch (CUDA libraries come as pip packages; run it with the
#            NVIDIA container runtime, on Kubernetes with an `nvidia.com/gpu` limit)
#   docker build -t tuneloop:0.1.0 --build-arg LOCK=service .
#   docker build -t tuneloop-ml:0.1.0 --build-arg LOCK=ml-cpu .
#   docker build -t tuneloop-ml:0.1.0-cuda --build-arg LOCK=ml-cuda .
# Every dependency comes from the lock, with its hash (pip --require-hashes), as a wheel (but
# rouge-score, pure Python, which publishes only its hashed sdist), and the build
# fails when what got installed is not exactly the lock (scripts/check_lock.py). Ray's
# version is the lock's, pinned in pyproject.toml, equal to Chart.yaml's (a test checks).
# BASE_IMAGE: the official Python image by default; any Debian-like image with python3 and
# its venv module works (scripts/build-images.sh makes one from Debian's packages).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG LOCK=service
# where the CPU torch wheel comes from (ml-cpu only; empty: requirements/local/ holds it)
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
WORKDIR /src
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# Dependencies first: this layer changes only when the lock does.
COPY requirements ./requirements
RUN set -eu; \
    if [ -f requirements/local/ca.crt ]; then export PIP_CERT=/src/requirements/local/ca.crt; fi; \
    set --; \
    if [ "$LOCK" = ml-cpu ] && [ -n "$TORCH_INDEX" ]; then set -- --extra-index-url "$TORCH_INDEX"; fi; \
    pip install --require-hashes --no-deps --only-binary :all: --no-binary rouge-score \
        --find-links requirements/local "$@" -r "requirements/${LOCK}.txt"
# The code last, then the check that the image holds exactly the lock.
COPY pyproject.toml README.md ./
COPY services ./services
COPY scripts/check_lock.py ./
RUN set -eu; \
    pip install --no-deps --no-build-isolation /src; \
    set --; \
    case "$LOCK" in ml-*) set -- ml ;; esac; \
    python check_lock.py "requirements/${LOCK}.txt" "$@"

FROM ${BASE_IMAGE}
ARG LOCK=service
LABEL org.opencontainers.image.title="tuneloop" \
      org.opencontainers.image.description="tuneloop services (dataprep, registry, controller; with LOCK=ml-*: trainer, evaluator, serving, Ray)" \
      dev.tuneloop.lock="${LOCK}"
# A login shell (`bash -l`, as KubeRay before 1.4 runs `ray start`) resets PATH from /etc/profile:
# profile.d puts the venv back (the $PATH is for that shell to expand, hence the single quotes).
# hadolint ignore=SC2016
RUN useradd --create-home --uid 10001 --user-group tuneloop \
    && mkdir -p /data \
    && chown 10001:10001 /data \
    && echo 'export PATH=/opt/venv/bin:$PATH' > /etc/profile.d/tuneloop-venv.sh
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
# dumb-init is PID 1: it forwards signals and reaps the orphans that Ray and torch leave
ENTRYPOINT ["dumb-init", "--", "tuneloop"]
CMD ["serve", "dataprep"]
