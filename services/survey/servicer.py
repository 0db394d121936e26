"""SurveyService: a conditioned persona answers survey items."""

from __future__ import annotations

from typing import Any

import numpy as np

from silico.convert import item_from_proto
from silico.core.errors import ValidationError
from silico.pipeline.stages import LanguageModel, score_items, stored_answers
from silico.runtime.app import unit_handler
from silico.v1 import common_pb2, survey_pb2, survey_pb2_grpc


def run(lm: LanguageModel, req: survey_pb2.AnswerRequest) -> dict[str, Any]:
    if not req.context.strip():
        raise ValidationError("context", "must not be empty")
    if not req.items:
        raise ValidationError("items", "needs at least one item")
    items = [item_from_proto(p) for p in req.items]
    orders = list(req.orders) or ["identity"]
    bad = [o for o in orders if o not in ("identity", "reversed")]
    if bad:
        raise ValidationError("orders", f"unknown orders {bad}")
    mode = req.mode or "logprob"
    if mode not in ("logprob", "sampled"):
        raise ValidationError("mode", "must be 'logprob' or 'sampled'")
    if not 0.0 <= req.min_compliance <= 1.0:
        raise ValidationError("min_compliance", "must be within 0..1")
    sc = score_items(
        lm,
        [req.context],
        items,
        orders,
        mode,
        seed=req.seed,
        stage=req.stage or "survey",
        max_attempts=req.max_attempts or 3,
        first_index=req.index,
        min_compliance=req.min_compliance,
        series=req.series,
    )
    return {
        # A non-compliant answer is stored as an empty list: missing, never guessed.
        "probs": stored_answers(sc, items),
        "compliance": sc.compliance[0].tolist(),
        "attempts": (sc.attempts[0] if sc.attempts is not None else np.zeros(len(items))).tolist(),
    }


class SurveyServicer(survey_pb2_grpc.SurveyServiceServicer):
    def __init__(self, lm: LanguageModel) -> None:
        self._lm = lm

    def Answer(self, request: survey_pb2.AnswerRequest, context: Any) -> survey_pb2.AnswerResponse:  # noqa: N802
        out = run(self._lm, request)
        return survey_pb2.AnswerResponse(
            answers=[
                common_pb2.Distribution(probs=p, compliance=c, attempts=int(a))
                for p, c, a in zip(out["probs"], out["compliance"], out["attempts"], strict=True)
            ]
        )


def handler(lm: Any, store: Any) -> Any:
    return unit_handler("survey", "survey", store, lambda req: run(lm, req), lm)
