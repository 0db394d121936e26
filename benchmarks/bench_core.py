"""Science-core benchmarks: matching at scale and the split-half lower bound."""

from __future__ import annotations

import time

import numpy as np

from silico.core.matching import MatchProblem, capacity_match, greedy_match, hungarian_match
from silico.core.stats import Responses, split_half
from silico.core.traits import SCHEMES

# The nine traits at the sizes of the built-in schemes.
_TRAIT_SCHEMES = (
    "age4",
    "gender2",
    "race5",
    "educ6",
    "income_gss5",
    "region4",
    "relig5",
    "party4",
    "ideo5",
)


#: Goals of issue #17 ("Matching at scale"), 10k humans x 40k personas, weights included.
_GOALS_S = {"greedy": 3.0, "hungarian": 15.0, "capacity": 30.0}
_SIZE = (10_000, 40_000)


def _inputs(
    n_humans: int, n_personas: int, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    probs, cats = {}, {}
    for name in _TRAIT_SCHEMES:
        c = SCHEMES[name].matrix.shape[1]
        # Peaked persona distributions, as a model's annotations are.
        probs[name] = rng.dirichlet(np.full(c, 0.3), size=n_personas)
        cats[name] = np.where(rng.random(n_humans) < 0.03, -1, rng.integers(0, c, size=n_humans))
    return probs, cats, rng.random(n_humans) + 0.2


def _problem(n_humans: int, n_personas: int, seed: int) -> tuple[MatchProblem, np.ndarray]:
    probs, cats, weights = _inputs(n_humans, n_personas, seed)
    return MatchProblem.build(probs, cats), weights


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _vs_goal(name: str, seconds: float) -> dict[str, object]:
    return {
        f"{name}_s": round(seconds, 2),
        f"{name}_goal_s": _GOALS_S[name],
        f"{name}_vs_goal": round(seconds / _GOALS_S[name], 3),
    }


def bench_matching_greedy_capacity() -> dict[str, object]:
    """Greedy and capacity-3 greedy at 10k x 40k, each timed from the raw distributions.

    ``greedy_agrees_with_exact_rows`` re-derives the greedy choice of 1000
    humans from their exact weight rows (the screen only ranks; it must never
    change a choice).
    """
    probs, cats, weights = _inputs(*_SIZE, 1)
    g, tg = _timed(lambda: greedy_match(MatchProblem.build(probs, cats)))
    c, tc = _timed(lambda: capacity_match(MatchProblem.build(probs, cats), 3, weights))
    check = MatchProblem.build(probs, cats)
    sample = np.arange(0, _SIZE[0], _SIZE[0] // 1000)
    exact_choice = check.rows(sample).argmax(axis=1)
    return {
        "humans_x_personas": f"{_SIZE[0]} x {_SIZE[1]}",
        **_vs_goal("greedy", tg),
        **_vs_goal("capacity", tc),
        "capacity_k": 3,
        "greedy_exact_rows": g.detail.get("exact_rows"),
        "capacity_exact_rows": c.detail.get("exact_rows"),
        "greedy_agrees_with_exact_rows": bool(np.array_equal(g.persona[sample], exact_choice)),
        "capacity_max_reuse": int(np.bincount(c.persona).max()),
        "greedy_max_reuse": int(np.bincount(g.persona).max()),
        "capacity_mean_logw_minus_greedy": round(
            float(c.log_weight.mean() - g.log_weight.mean()), 4
        ),
    }


def bench_matching_hungarian() -> dict[str, object]:
    """Sparse, duality-certified Hungarian at 10k x 40k, timed from the raw distributions.

    The certificate (``exact``, ``gap_bound``) proves the sparse solution
    optimal for the full matrix; ``dense_check_*`` also solves a 2k x 8k
    problem both ways and compares the totals.
    """
    probs, cats, _ = _inputs(*_SIZE, 2)
    h, th = _timed(lambda: hungarian_match(MatchProblem.build(probs, cats)))
    small, _ = _problem(2_000, 8_000, 4)
    sparse = hungarian_match(small, solver="sparse")
    dense, td = _timed(lambda: hungarian_match(small, solver="dense"))
    diff = float(sparse.log_weight.sum() - dense.log_weight.sum())
    return {
        "humans_x_personas": f"{_SIZE[0]} x {_SIZE[1]}",
        **_vs_goal("hungarian", th),
        "solver": h.detail.get("solver"),
        "candidates_k": h.detail.get("candidates"),
        "rounds": h.detail.get("rounds"),
        "pairs": h.detail.get("pairs"),
        "checked_rows": h.detail.get("checked_rows"),
        "exact": h.detail.get("exact"),
        "gap_bound": h.detail.get("gap_bound"),
        "one_to_one": bool(len(np.unique(h.persona)) == _SIZE[0]),
        "total_log_weight": round(float(h.log_weight.sum()), 6),
        "dense_check_size": "2000 x 8000",
        "dense_check_dense_s": round(td, 2),
        "dense_check_total_diff": diff,
        "dense_check_equal": bool(abs(diff) <= 1e-9 * abs(float(dense.log_weight.sum()))),
    }


def bench_split_half() -> dict[str, object]:
    rng = np.random.default_rng(3)
    n, p, k = 5_000, 100, 5
    latent = rng.normal(size=(n, 3))
    loadings = rng.normal(size=(3, p))
    vals = np.clip(np.round(latent @ loadings * 0.6 + rng.normal(size=(n, p)) + 3), 1, k)
    vals[rng.random(vals.shape) < 0.1] = np.nan
    r = Responses.build(vals, [k] * p, rng.random(n) + 0.5)
    out, t = _timed(lambda: split_half(r, 100, np.random.default_rng(4)))
    return {
        "respondents_x_items": "5000 x 100",
        "iterations": 100,
        "split_half_s": round(t, 2),
        "goal_s": 5,
        "vs_goal": round(t / 5, 3),
        "lower_bound_wd": round(out["wd"].estimate, 4),
        "lower_bound_frobenius": round(out["frobenius"].estimate, 3),
    }


BENCHMARKS = {
    "matching_greedy_capacity": bench_matching_greedy_capacity,
    "matching_hungarian": bench_matching_hungarian,
    "split_half": bench_split_half,
}
