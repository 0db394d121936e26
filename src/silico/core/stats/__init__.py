"""Metrics: human vs virtual distances, correlations, alpha, lower bounds, gaps."""

from silico.core.stats._compare import (
    METRICS,
    Comparison,
    Interval,
    bootstrap,
    by_subgroup,
    compare,
    compare_with_ci,
    split_half,
)
from silico.core.stats._distances import (
    cbs_distance,
    frobenius_distance,
    l1_distance,
    normalised_wasserstein,
    wasserstein_ordinal,
)
from silico.core.stats._higher_order import (
    GAP_KINDS,
    Gap,
    cohens_d,
    party_gaps,
    perception_gap,
    same_sign,
)
from silico.core.stats._responses import Responses, cronbach_alpha, distributions, weighted_corr

__all__ = [
    "GAP_KINDS",
    "METRICS",
    "Comparison",
    "Gap",
    "Interval",
    "Responses",
    "bootstrap",
    "by_subgroup",
    "cbs_distance",
    "cohens_d",
    "compare",
    "compare_with_ci",
    "cronbach_alpha",
    "distributions",
    "frobenius_distance",
    "l1_distance",
    "normalised_wasserstein",
    "party_gaps",
    "perception_gap",
    "same_sign",
    "split_half",
    "wasserstein_ordinal",
    "weighted_corr",
]
