"""SurveyService: a conditioned persona answers survey items."""

from __future__ import annotations

from typing import Any

from silico.pipeline import work
from silico.v1 import survey_pb2, survey_pb2_grpc


class SurveyServicer(survey_pb2_grpc.SurveyServiceServicer):
    """The unit function of :mod:`silico.pipeline.work` behind the RPC (the stage's
    Kafka worker calls the same function)."""

    def __init__(self, models: work.Models | None) -> None:
        self._models = models or work.Models(None)

    def Answer(self, request: survey_pb2.AnswerRequest, context: Any) -> survey_pb2.AnswerResponse:  # noqa: N802
        return work.answer(self._models, request)
