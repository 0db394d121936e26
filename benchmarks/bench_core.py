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


def _problem(n_humans: int, n_personas: int, seed: int) -> tuple[MatchProblem, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs, cats = {}, {}
    for name in _TRAIT_SCHEMES:
        c = SCHEMES[name].matrix.shape[1]
        # Peaked persona distributions, as a model's annotations are.
        probs[name] = rng.dirichlet(np.full(c, 0.3), size=n_personas)
        cats[name] = np.where(rng.random(n_humans) < 0.03, -1, rng.integers(0, c, size=n_humans))
    return MatchProblem.build(probs, cats), rng.random(n_humans) + 0.2


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_matching_greedy_capacity() -> dict[str, object]:
    prob, weights = _problem(10_000, 40_000, 1)
    g, tg = _timed(lambda: greedy_match(prob))
    c, tc = _timed(lambda: capacity_match(prob, 3, weights))
    return {
        "humans_x_personas": "10000 x 40000",
        "greedy_s": round(tg, 2),
        "capacity_k3_s": round(tc, 2),
        "goal_s": 10,
        "greedy_vs_goal": round(tg / 10, 3),
        "capacity_vs_goal": round(tc / 10, 3),
        "capacity_max_reuse": int(np.bincount(c.persona).max()),
        "greedy_max_reuse": int(np.bincount(g.persona).max()),
        "capacity_mean_logw_minus_greedy": round(
            float(c.log_weight.mean() - g.log_weight.mean()), 4
        ),
    }


def bench_matching_hungarian() -> dict[str, object]:
    prob, _ = _problem(5_000, 20_000, 2)
    dense, tb = _timed(prob.dense)
    h, th = _timed(lambda: hungarian_match(dense))
    return {
        "humans_x_personas": "5000 x 20000",
        "build_matrix_s": round(tb, 2),
        "hungarian_s": round(th, 2),
        "goal_s": 60,
        "total_vs_goal": round((tb + th) / 60, 3),
        "one_to_one": bool(len(np.unique(h.persona)) == 5000),
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
