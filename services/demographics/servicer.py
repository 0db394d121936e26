"""DemographicsService: a backstory-conditioned persona answers the demographic questionnaire."""

from __future__ import annotations

from typing import Any

from silico.pipeline import work
from silico.v1 import demographics_pb2, demographics_pb2_grpc


class DemographicsServicer(demographics_pb2_grpc.DemographicsServiceServicer):
    """The unit function of :mod:`silico.pipeline.work` behind the RPC (the stage's
    Kafka worker calls the same function)."""

    def __init__(self, models: work.Models | None) -> None:
        self._models = models or work.Models(None)

    def Annotate(
        self, request: demographics_pb2.AnnotateRequest, context: Any
    ) -> demographics_pb2.AnnotateResponse:  # noqa: N802
        return work.demographics(self._models, request)
