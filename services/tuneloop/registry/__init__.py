"""registry: every model tuneloop knows, its immutable versions and their full story.

Core modules (no gRPC): `records` (the objects), `store` (their SQL rows, search, aliases,
events), `blobs` (content-addressed artifact files), `upload` (checking a manifest and
its streamed bytes), `core` (the use cases). `servicer` is the thin gRPC layer.
"""
