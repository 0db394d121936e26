"""BackstoryService: samples one persona's backstory attempt, or a whole reviewed interview."""

from __future__ import annotations

from typing import Any

from silico.pipeline import work
from silico.v1 import backstory_pb2, backstory_pb2_grpc


class BackstoryServicer(backstory_pb2_grpc.BackstoryServiceServicer):
    """The unit function of :mod:`silico.pipeline.work` behind the RPC (the stage's
    Kafka worker calls the same function)."""

    def __init__(self, models: work.Models | None) -> None:
        self._models = models or work.Models(None)

    def Generate(
        self, request: backstory_pb2.GenerateRequest, context: Any
    ) -> backstory_pb2.GenerateResponse:  # noqa: N802
        return work.generate(self._models, request)
