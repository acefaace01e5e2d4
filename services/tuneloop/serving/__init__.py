"""serving: answer predictions from registered model versions, following aliases.

Core modules (no gRPC): `predictors` (what a loaded version does with a batch), `batcher`
(dynamic micro-batching with a bounded queue), `follow` (the registry's events), `core`
(routes, loading, hot swap on alias moves); `servicer` is the thin gRPC layer.
"""
