"""CriticService: judges a backstory or an interview answer."""

from __future__ import annotations

from typing import Any

from silico.pipeline import work
from silico.v1 import common_pb2, critic_pb2, critic_pb2_grpc


class CriticServicer(critic_pb2_grpc.CriticServiceServicer):
    """The unit function of :mod:`silico.pipeline.work` behind the RPC (the stage's
    Kafka worker calls the same function)."""

    def __init__(self, models: work.Models | None) -> None:
        self._models = models or work.Models(None)

    def Review(self, request: critic_pb2.ReviewRequest, context: Any) -> common_pb2.Verdict:  # noqa: N802
        return work.review(self._models, request)
