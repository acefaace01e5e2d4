"""evaluator: measure a model on data it has never seen, and decide whether a candidate beats a baseline.

Core modules (no gRPC): `scores` (the report, computed with scikit-learn), `compare`
(paired bootstrap, McNemar, the gating policy and its verdict), `inference` (batched
predictions of a registered model on a dataset split), `store` (reports kept in SQL),
`core` (the use cases), `metrics` (Prometheus). `servicer` is the thin gRPC layer.
"""
