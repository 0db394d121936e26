"""Matching personas to human respondents by the likelihood of their demographics."""

from silico.core.matching._assign import (
    MATCHING_METHODS,
    Matching,
    capacity_match,
    greedy_match,
    hungarian_match,
    random_match,
)
from silico.core.matching._diagnostics import MatchDiagnostics, TraitFit, diagnose
from silico.core.matching._weights import PROB_FLOOR, MatchProblem, log_weight_matrix

__all__ = [
    "MATCHING_METHODS",
    "PROB_FLOOR",
    "MatchDiagnostics",
    "MatchProblem",
    "Matching",
    "TraitFit",
    "capacity_match",
    "diagnose",
    "greedy_match",
    "hungarian_match",
    "log_weight_matrix",
    "random_match",
]
