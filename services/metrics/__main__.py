"""``python -m services.metrics``: MetricsService."""

from __future__ import annotations

from services.metrics.servicer import MetricsServicer
from silico.runtime.app import run_service
from silico.v1 import metrics_pb2_grpc


def main() -> int:
    return run_service(
        "metrics",
        ["silico.v1.MetricsService"],
        lambda server, settings: metrics_pb2_grpc.add_MetricsServiceServicer_to_server(
            MetricsServicer(), server
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
