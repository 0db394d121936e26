"""``python -m services.demographics``: DemographicsService and the annotate.requests.v1 worker."""

from __future__ import annotations

from services.demographics.servicer import DemographicsServicer, handler
from silico.runtime.app import make_lm, open_store, run_service
from silico.v1 import demographics_pb2_grpc


def main() -> int:
    lm = {}

    def register(server, settings):  # type: ignore[no-untyped-def]
        lm["c"] = make_lm(settings)
        demographics_pb2_grpc.add_DemographicsServiceServicer_to_server(
            DemographicsServicer(lm["c"]), server
        )

    return run_service(
        "demographics",
        ["silico.v1.DemographicsService"],
        register,
        worker=lambda settings: handler(lm["c"], open_store(settings)),
        stage="annotate",
        # An annotation unit sends one prompt per trait over the same backstory
        # prefix; a few units at a time keep the server's prefix batches whole.
        worker_concurrency=4,
    )


if __name__ == "__main__":
    raise SystemExit(main())
