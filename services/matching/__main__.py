"""``python -m services.matching``: MatchingService."""

from __future__ import annotations

from services.matching.servicer import MatchingServicer
from silico.runtime.app import run_service
from silico.v1 import matching_pb2_grpc


def main() -> int:
    return run_service(
        "matching",
        ["silico.v1.MatchingService"],
        lambda server, settings: matching_pb2_grpc.add_MatchingServiceServicer_to_server(
            MatchingServicer(), server
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
