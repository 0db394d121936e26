"""``python -m services.metrics``: the metrics service (see silico.pipeline.registry)."""

from services.metrics.servicer import MetricsServicer
from silico.platform.serve import run_service

if __name__ == "__main__":
    raise SystemExit(run_service("metrics", lambda c: MetricsServicer()))
