"""Generated protobuf and gRPC code for protos/tuneloop/v1 (see scripts/gen_protos.py)."""
