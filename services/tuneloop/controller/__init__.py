"""controller: continuous retraining as a persisted, idempotent reconcile loop with one leader.

Core modules (no gRPC): `policy` (what a retraining policy says), `store` (policies, runs,
run events and the leader lease in SQL), `reconcile` (one pass: fire triggers, advance
every run one idempotent step), `core` (the use cases and the loop thread). `servicer` is
the thin gRPC layer.
"""
