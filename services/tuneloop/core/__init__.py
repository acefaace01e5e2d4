"""Shared foundation of every service: settings, SQL store, artifact store, gRPC bootstrap, errors."""
