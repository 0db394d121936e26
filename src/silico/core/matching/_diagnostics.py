"""How well a matching fits: per-trait marginals, persona reuse, weight distribution."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from silico.core.errors import ValidationError
from silico.core.matching._assign import Matching


@dataclass(frozen=True)
class TraitFit:
    """One trait's marginal: the humans' (weighted) shares and the matched personas' expected shares.

    ``tvd`` is the total variation distance :math:`\\tfrac12 \\sum_c |h_c - m_c|`;
    ``agreement`` the weighted mean of :math:`P_{\\sigma(h)}(c_h)`, the chance the
    matched persona would name the human's own category.
    """

    human: np.ndarray
    matched: np.ndarray
    tvd: float
    agreement: float


@dataclass(frozen=True)
class MatchDiagnostics:
    """Diagnostics of a :class:`Matching`."""

    method: str
    traits: dict[str, TraitFit]
    n_humans: int
    n_personas: int
    unique_personas: int
    max_reuse: int
    reuse_histogram: dict[int, int]
    log_weight_mean: float
    log_weight_quantiles: dict[str, float]


def diagnose(
    matching: Matching,
    persona_probs: Mapping[str, np.ndarray],
    human_categories: Mapping[str, Sequence[int] | np.ndarray],
    survey_weights: np.ndarray | None = None,
) -> MatchDiagnostics:
    """Marginal fit per trait, reuse counts and the distribution of matched log weights.

    For trait :math:`t` over humans with a known category (weights :math:`s_h`),

    .. math:: h_c = \\frac{\\sum_h s_h [c_h = c]}{\\sum_h s_h}, \\qquad
              m_c = \\frac{\\sum_h s_h P_{\\sigma(h)}(c)}{\\sum_h s_h}.

    Parameters
    ----------
    matching : Matching
    persona_probs : mapping trait -> ndarray (V, C_t)
    human_categories : mapping trait -> int array (H,), -1 missing
    survey_weights : ndarray (H,), optional
    """
    persona = matching.persona
    h = len(persona)
    s = np.ones(h) if survey_weights is None else np.asarray(survey_weights, dtype=float)
    if s.shape != (h,):
        raise ValidationError("survey_weights", f"need {h} weights")
    fits = {}
    n_personas = 0
    for t, probs in persona_probs.items():
        if t not in human_categories:
            continue
        p = np.asarray(probs, dtype=float)
        n_personas = p.shape[0]
        c = np.asarray(human_categories[t], dtype=np.int64)
        known = c >= 0
        sk = s[known]
        if sk.sum() <= 0:
            continue
        hist = np.bincount(c[known], weights=sk, minlength=p.shape[1]) / sk.sum()
        mp = p[persona[known]]
        matched = (sk[:, None] * mp).sum(axis=0) / sk.sum()
        agree = float((sk * mp[np.arange(len(sk)), c[known]]).sum() / sk.sum())
        fits[t] = TraitFit(hist, matched, float(0.5 * np.abs(hist - matched).sum()), agree)
    counts = np.bincount(persona, minlength=max(n_personas, int(persona.max()) + 1))
    used = counts[counts > 0]
    reuse = {int(k): int(n) for k, n in zip(*np.unique(used, return_counts=True), strict=True)}
    lw = matching.log_weight[np.isfinite(matching.log_weight)]
    qs = (
        {f"q{int(q * 100):02d}": float(np.quantile(lw, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
        if len(lw)
        else {}
    )
    return MatchDiagnostics(
        method=matching.method,
        traits=fits,
        n_humans=h,
        n_personas=int(len(counts)),
        unique_personas=int(len(used)),
        max_reuse=int(used.max()) if len(used) else 0,
        reuse_histogram=reuse,
        log_weight_mean=float(lw.mean()) if len(lw) else float("nan"),
        log_weight_quantiles=qs,
    )
