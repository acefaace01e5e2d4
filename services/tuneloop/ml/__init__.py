"""What the trainer, the evaluator and (next) serving share about models and data.

- `spec`: the typed training spec, the one source of every training option (the proto,
  the CLI flags and the controller's policy all map to it); pydantic only, so the lean
  services (controller) import it without torch.
- `inputs`: a job's inputs fetched from the peers through `tuneloop.client`: dataset
  versions, split files, model folders in a local cache.
- `modeling`, `batching`, `classifier`: loading a Hugging Face classifier and its
  tokenizer, tokenizing, length-grouped batching and collate, batched prediction.

Nothing here imports a service package (the import-rules test keeps it so).
"""
