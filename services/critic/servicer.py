"""CriticService: judges a backstory or an interview answer (thin adapter)."""

from __future__ import annotations

from typing import Any

from silico.convert import turns_from_proto, verdict_to_dict, verdict_to_proto
from silico.core.errors import ValidationError
from silico.core.prompts import Verdict
from silico.pipeline.stages import LanguageModel, critic_verdict, judge_candidate
from silico.runtime.app import unit_handler
from silico.v1 import common_pb2, critic_pb2, critic_pb2_grpc


def review(lm: LanguageModel | None, req: critic_pb2.ReviewRequest) -> Verdict:
    if not req.text.strip():
        raise ValidationError("text", "must not be empty")
    model = lm if req.use_model else None
    if req.check_length:
        return judge_candidate(model, req.text, req.completion_tokens, req.min_tokens, True)
    return critic_verdict(model, req.text, turns_from_proto(req.earlier))


class CriticServicer(critic_pb2_grpc.CriticServiceServicer):
    def __init__(self, lm: LanguageModel | None) -> None:
        self._lm = lm

    def Review(self, request: critic_pb2.ReviewRequest, context: Any) -> common_pb2.Verdict:  # noqa: N802
        return verdict_to_proto(review(self._lm, request))


def handler(lm: Any, store: Any) -> Any:
    return unit_handler("critic", "critic", store, lambda req: verdict_to_dict(review(lm, req)), lm)
