"""DemographicsService: a backstory-conditioned persona answers the demographic questionnaire."""

from __future__ import annotations

from typing import Any

from silico.core.errors import ValidationError
from silico.core.traits import TRAIT_NAMES
from silico.pipeline.stages import LanguageModel, annotate
from silico.runtime.app import unit_handler
from silico.v1 import common_pb2, demographics_pb2, demographics_pb2_grpc


def run(lm: LanguageModel, req: demographics_pb2.AnnotateRequest) -> dict[str, Any]:
    if not req.backstory.strip():
        raise ValidationError("backstory", "must not be empty")
    if not req.traits:
        raise ValidationError("traits", "name at least one trait")
    unknown = [t for t in req.traits if t not in TRAIT_NAMES]
    if unknown:
        raise ValidationError("traits", f"unknown traits {unknown}; known: {list(TRAIT_NAMES)}")
    estimator = req.estimator or "logprob"
    if estimator not in ("logprob", "sampled"):
        raise ValidationError("estimator", "must be 'logprob' or 'sampled'")
    probs, comp = annotate(
        lm,
        [req.backstory],
        list(req.traits),
        estimator,
        req.samples or 40,
        req.seed,
        first_index=req.index,
        orders=tuple(req.orders) or ("identity",),
    )
    return {"traits": {t: probs[t][0].tolist() for t in req.traits}, "compliance": comp[0].tolist()}


class DemographicsServicer(demographics_pb2_grpc.DemographicsServiceServicer):
    def __init__(self, lm: LanguageModel) -> None:
        self._lm = lm

    def Annotate(
        self, request: demographics_pb2.AnnotateRequest, context: Any
    ) -> demographics_pb2.AnnotateResponse:  # noqa: N802
        out = run(self._lm, request)
        return demographics_pb2.AnnotateResponse(
            traits=[
                common_pb2.TraitDistribution(trait=t, probs=p, compliance=c)
                for (t, p), c in zip(out["traits"].items(), out["compliance"], strict=True)
            ]
        )


def handler(lm: Any, store: Any) -> Any:
    return unit_handler("annotate", "annotate", store, lambda req: run(lm, req), lm)
