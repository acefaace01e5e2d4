"""dataprep: labeled text files in, immutable versioned ready-to-train datasets out.

Core modules (no gRPC): `options` (what the user can choose), `formats` (reading
CSV/JSONL/Parquet safely), `clean` (text and label normalization), `dedupe` (exact,
normalized and near duplicates, label conflicts), `split` (stratified, leak-free,
sticky on append), `report` (counts, lengths, drift), `pipeline` (the steps in order),
`store` (SQL rows + Parquet files), `core` (the use cases). `servicer` is the thin
gRPC layer.
"""
