# One image for every tuneloop service: `tuneloop serve SERVICE` picks which.
# Build: docker build -t tuneloop .      (GPU variant: --build-arg TORCH_VARIANT=cu128, once the trainer exists)
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first (a layer that changes only when pyproject.toml does)
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt
COPY services ./services
RUN pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 tuneloop
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TUNELOOP_ADDRESS=0.0.0.0:50051 \
    TUNELOOP_METRICS_HOST=0.0.0.0 \
    TUNELOOP_METRICS_PORT=9090 \
    TUNELOOP_DATA_DIR=/data
RUN mkdir /data && chown tuneloop /data
USER 10001
EXPOSE 50051 9090
ENTRYPOINT ["tuneloop"]
CMD ["serve", "dataprep"]
