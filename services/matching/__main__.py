"""``python -m services.matching``: the matching service (see silico.pipeline.registry)."""

from services.matching.servicer import MatchingServicer
from silico.platform.serve import run_service

if __name__ == "__main__":
    raise SystemExit(run_service("matching", lambda c: MatchingServicer()))
