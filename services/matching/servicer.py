"""MatchingService: personas to humans by demographic likelihood (no model, pure core)."""

from __future__ import annotations

from typing import Any

import numpy as np

from silico.convert import problem_from_proto
from silico.core.errors import ValidationError
from silico.core.matching import MATCHING_METHODS
from silico.pipeline.assemble import match_with
from silico.v1 import matching_pb2, matching_pb2_grpc


class MatchingServicer(matching_pb2_grpc.MatchingServiceServicer):
    def Match(self, request: matching_pb2.MatchRequest, context: Any) -> matching_pb2.MatchResponse:  # noqa: N802
        if request.method not in MATCHING_METHODS:
            raise ValidationError(
                "method", f"{request.method!r} is not one of {list(MATCHING_METHODS)}"
            )
        problem = problem_from_proto(request.traits)
        weights = (
            np.asarray(request.survey_weights, dtype=float)
            if len(request.survey_weights)
            else np.ones(problem.n_humans)
        )
        m = match_with(
            problem,
            request.method,
            weights,
            request.capacity or 1,
            request.raw_weights,
            request.seed,
        )
        return matching_pb2.MatchResponse(
            persona=m.persona.tolist(), log_weight=m.log_weight.tolist()
        )
