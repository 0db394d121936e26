"""``python -m services.backstory``: BackstoryService and the backstory.requests.v1 worker."""

from __future__ import annotations

from services.backstory.servicer import BackstoryServicer, handler
from silico.runtime.app import make_lm, open_store, run_service
from silico.v1 import backstory_pb2_grpc


def main() -> int:
    lm = {}

    def register(server, settings):  # type: ignore[no-untyped-def]
        lm["c"] = make_lm(settings)
        backstory_pb2_grpc.add_BackstoryServiceServicer_to_server(
            BackstoryServicer(lm["c"]), server
        )

    return run_service(
        "backstory",
        ["silico.v1.BackstoryService"],
        register,
        worker=lambda settings: handler(lm["c"], open_store(settings)),
        stage="backstory",
    )


if __name__ == "__main__":
    raise SystemExit(main())
