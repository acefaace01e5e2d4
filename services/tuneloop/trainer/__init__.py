"""trainer: fine-tune a registered model on a dataset version with Ray Train, register the result.

Core modules (no gRPC): `spec` (what a job asks for, validated), `batching` (tokenized,
length-grouped, dynamically padded batches), `loop` (the per-worker training loop that
runs inside Ray Train's TorchTrainer), `raytrain` (starting Ray and the TorchTrainer,
cancellably), `jobs` (persisted jobs and their progress events), `runner` (executes queued
jobs: fetch data and model, train, register), `core` (the use cases). `servicer` is the
thin gRPC layer.
"""
