"""CriticService: judges a backstory or an interview answer (thin adapter)."""

from __future__ import annotations

from typing import Any

from silico.convert import (
    critic_settings_from_proto,
    turns_from_proto,
    verdict_to_dict,
    verdict_to_proto,
)
from silico.core.errors import ValidationError
from silico.core.prompts import Verdict
from silico.pipeline.stages import CriticSettings, LanguageModel, critic_verdict, judge_candidate
from silico.runtime.app import unit_handler
from silico.v1 import common_pb2, critic_pb2, critic_pb2_grpc


def review(lm: LanguageModel | None, req: critic_pb2.ReviewRequest) -> Verdict:
    if req.check_length:
        # An empty candidate is a verdict (too short), not a bad request: it must
        # end its unit, never loop through retries.
        settings = (
            critic_settings_from_proto(req.settings)
            if req.HasField("settings")
            else CriticSettings(use_model=req.use_model)
        )
        model = lm if (settings.use_model or settings.min_coherence is not None) else None
        return judge_candidate(model, req.text, req.completion_tokens, req.min_tokens, settings)
    if not req.text.strip():
        raise ValidationError("text", "must not be empty")
    if req.HasField("settings"):
        return critic_verdict(
            lm, req.text, turns_from_proto(req.earlier), critic_settings_from_proto(req.settings)
        )
    return critic_verdict(lm if req.use_model else None, req.text, turns_from_proto(req.earlier))


class CriticServicer(critic_pb2_grpc.CriticServiceServicer):
    def __init__(self, lm: LanguageModel | None) -> None:
        self._lm = lm

    def Review(self, request: critic_pb2.ReviewRequest, context: Any) -> common_pb2.Verdict:  # noqa: N802
        return verdict_to_proto(review(self._lm, request))


def handler(lm: Any, store: Any) -> Any:
    return unit_handler("critic", "critic", store, lambda req: verdict_to_dict(review(lm, req)), lm)
