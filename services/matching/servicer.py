"""MatchingService: personas to humans by demographic likelihood (no model, pure core)."""

from __future__ import annotations

from typing import Any

import numpy as np

from silico.core.errors import ValidationError
from silico.core.matching import (
    MATCHING_METHODS,
    Matching,
    MatchProblem,
    capacity_match,
    greedy_match,
    hungarian_match,
    random_match,
)
from silico.v1 import common_pb2, matching_pb2, matching_pb2_grpc


def problem_from_proto(traits: Any) -> MatchProblem:
    if not traits:
        raise ValidationError("traits", "needs at least one trait matrix")
    probs, cats = {}, {}
    for i, t in enumerate(traits):
        if t.n_personas <= 0 or t.n_categories <= 0:
            raise ValidationError(f"traits[{i}]", "n_personas and n_categories must be > 0")
        if len(t.probs) != t.n_personas * t.n_categories:
            raise ValidationError(
                f"traits[{i}].probs",
                f"expected {t.n_personas * t.n_categories} values, got {len(t.probs)}",
            )
        probs[t.trait] = np.asarray(t.probs, dtype=float).reshape(t.n_personas, t.n_categories)
        cats[t.trait] = np.asarray(t.human_categories, dtype=np.int64)
    return MatchProblem.build(probs, cats)


def problem_to_proto(
    coarse: dict[str, np.ndarray], human_cats: dict[str, np.ndarray]
) -> list[common_pb2.TraitMatrix]:
    return [
        common_pb2.TraitMatrix(
            trait=t,
            n_personas=p.shape[0],
            n_categories=p.shape[1],
            probs=p.ravel().tolist(),
            human_categories=human_cats[t].tolist(),
        )
        for t, p in coarse.items()
    ]


def match(req: matching_pb2.MatchRequest) -> Matching:
    if req.method not in MATCHING_METHODS:
        raise ValidationError("method", f"{req.method!r} is not one of {list(MATCHING_METHODS)}")
    problem = problem_from_proto(req.traits)
    weights = (
        np.asarray(req.survey_weights, dtype=float)
        if len(req.survey_weights)
        else np.ones(problem.n_humans)
    )
    if req.method == "greedy":
        return greedy_match(problem)
    if req.method == "hungarian":
        return hungarian_match(problem, raw=req.raw_weights)
    if req.method == "capacity":
        return capacity_match(problem, req.capacity or 1, weights)
    return random_match(
        problem.n_humans, problem.n_personas, np.random.default_rng(req.seed), problem
    )


class MatchingServicer(matching_pb2_grpc.MatchingServiceServicer):
    def Match(self, request: matching_pb2.MatchRequest, context: Any) -> matching_pb2.MatchResponse:  # noqa: N802
        m = match(request)
        return matching_pb2.MatchResponse(
            persona=m.persona.tolist(), log_weight=m.log_weight.tolist()
        )
