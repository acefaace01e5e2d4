"""Prometheus metrics shared by every service, and the /metrics endpoint.

All services of one process register into prometheus-client's default registry, so
`tuneloop up` exposes one endpoint with every service's series.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_REQUESTS = Counter(
    "tuneloop_grpc_requests_total",
    "gRPC calls handled, by service, method and status code.",
    ["service", "method", "code"],
)
RPC_LATENCY = Histogram(
    "tuneloop_grpc_request_duration_seconds",
    "gRPC call latency, from arrival to the last response message.",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RPC_IN_FLIGHT = Gauge("tuneloop_grpc_in_flight", "gRPC calls being handled now.", ["service"])


def start_metrics_server(host: str, port: int):
    """Serve /metrics on host:port in a daemon thread; returns (server, thread)."""
    return start_http_server(port, addr=host)
