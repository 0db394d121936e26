"""``python -m services.critic``: CriticService over gRPC and the critic.requests.v1 worker."""

from __future__ import annotations

from services.critic.servicer import CriticServicer, handler
from silico.runtime.app import make_lm, open_store, run_service
from silico.v1 import critic_pb2_grpc


def main() -> int:
    lm = {}

    def register(server, settings):  # type: ignore[no-untyped-def]
        lm["c"] = make_lm(settings) if settings.model_url else None
        critic_pb2_grpc.add_CriticServiceServicer_to_server(CriticServicer(lm["c"]), server)

    return run_service(
        "critic",
        ["silico.v1.CriticService"],
        register,
        worker=lambda settings: handler(lm["c"], open_store(settings)),
        stage="critic",
    )


if __name__ == "__main__":
    raise SystemExit(main())
