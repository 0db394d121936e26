"""Matching: log weights, greedy, Hungarian, capacity and random, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silico.core.errors import ValidationError
from silico.core.matching import (
    MatchProblem,
    capacity_match,
    diagnose,
    greedy_match,
    hungarian_match,
    log_weight_matrix,
    random_match,
)


def _random_problem(rng, n_h, n_v, cats=(3, 4, 2)):
    probs = {f"t{i}": rng.dirichlet(np.ones(c), size=n_v) for i, c in enumerate(cats)}
    humans = {f"t{i}": rng.integers(-1, c, size=n_h) for i, c in enumerate(cats)}
    return probs, humans


def test_log_weights_match_the_product_formula(rng):
    probs, humans = _random_problem(rng, 30, 20)
    w = log_weight_matrix(probs, humans)
    for h in range(30):
        for v in range(20):
            prod = 1.0
            for t, p in probs.items():
                c = humans[t][h]
                prod *= 1.0 / p.shape[1] if c < 0 else p[v, c]
            assert w[h, v] == pytest.approx(np.log(prod), abs=1e-9)


def test_problem_rows_profiles_and_dense_agree(rng):
    probs, humans = _random_problem(rng, 50, 15)
    prob = MatchProblem.build(probs, humans)
    dense = prob.dense()
    assert np.array_equal(prob.rows(np.array([3, 7])), dense[[3, 7]])
    uniq, inv = prob.profiles()
    assert np.array_equal(uniq[inv], prob.human_categories)


def test_build_rejects_bad_inputs():
    with pytest.raises(ValidationError, match="probability distribution"):
        MatchProblem.build({"a": np.array([[0.5, 0.6]])}, {"a": [0]})
    with pytest.raises(ValidationError, match=r"humans\.a"):
        MatchProblem.build({"a": np.array([[0.5, 0.5]])}, {"a": [2]})
    with pytest.raises(ValidationError, match="share no trait"):
        MatchProblem.build({"a": np.array([[1.0]])}, {"b": [0]})


def test_greedy_is_rowwise_argmax_with_and_without_profiles(rng):
    probs, humans = _random_problem(rng, 200, 60)
    prob = MatchProblem.build(probs, humans)
    w = prob.dense()
    a, b = greedy_match(w), greedy_match(prob)
    assert np.array_equal(a.persona, w.argmax(axis=1))
    assert np.array_equal(a.persona, b.persona)
    assert np.allclose(a.log_weight, b.log_weight)


def _brute_force_assignment(w, capacity=1, s=None):
    h, v = w.shape
    s = np.ones(h) if s is None else s
    best, best_val = None, -np.inf
    for combo in itertools.product(range(v), repeat=h):
        if np.bincount(combo, minlength=v).max() > capacity:
            continue
        val = sum(s[i] * w[i, combo[i]] for i in range(h))
        if val > best_val + 1e-12:
            best, best_val = combo, val
    return np.array(best), best_val


def test_hungarian_is_optimal_by_brute_force(rng):
    for _ in range(15):
        h = int(rng.integers(2, 5))
        v = int(rng.integers(h, 6))
        w = np.log(rng.random((h, v)))
        m = hungarian_match(w)
        _, best = _brute_force_assignment(w)
        assert len(set(m.persona.tolist())) == h
        assert m.log_weight.sum() == pytest.approx(best, abs=1e-9)


def test_hungarian_needs_enough_personas():
    with pytest.raises(ValidationError, match="needs >= 3 personas"):
        hungarian_match(np.zeros((3, 2)))


def test_exact_capacity_is_optimal_by_brute_force(rng):
    for _ in range(10):
        h, v, k = 5, 3, 2
        w = np.log(rng.random((h, v)))
        s = rng.random(h) + 0.1
        m = capacity_match(w, k, s, exact=True)
        _, best = _brute_force_assignment(w, k, s)
        assert np.bincount(m.persona, minlength=v).max() <= k
        assert float((s * m.log_weight).sum()) == pytest.approx(best, abs=1e-9)
        greedy = capacity_match(w, k, s)
        assert float((s * greedy.log_weight).sum()) <= best + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    n_h=st.integers(1, 40),
    n_v=st.integers(1, 15),
    k=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    use_problem=st.booleans(),
)
def test_capacity_respected_and_everyone_matched(n_h, n_v, k, seed, use_problem):
    rng = np.random.default_rng(seed)
    probs, humans = _random_problem(rng, n_h, n_v)
    prob = MatchProblem.build(probs, humans)
    src = prob if use_problem else prob.dense()
    s = rng.random(n_h)
    if k * n_v < n_h:
        with pytest.raises(ValidationError, match="capacity"):
            capacity_match(src, k, s)
        return
    m = capacity_match(src, k, s)
    assert m.persona.shape == (n_h,)
    assert np.bincount(m.persona, minlength=n_v).max() <= k
    dense = prob.dense()
    assert np.allclose(m.log_weight, dense[np.arange(n_h), m.persona])


def test_capacity_gives_heavier_respondents_first_pick():
    w = np.log(np.array([[0.9, 0.1], [0.8, 0.2]]))
    m = capacity_match(w, 1, np.array([1.0, 5.0]))
    assert m.persona.tolist() == [1, 0]


def test_capacity_with_large_k_equals_greedy(rng):
    w = np.log(rng.random((30, 10)))
    assert np.array_equal(capacity_match(w, 30).persona, greedy_match(w).persona)


def test_random_match_is_seeded_and_one_to_one_when_possible():
    a = random_match(5, 8, np.random.default_rng(3))
    b = random_match(5, 8, np.random.default_rng(3))
    assert np.array_equal(a.persona, b.persona) and len(set(a.persona.tolist())) == 5
    c = random_match(10, 3, np.random.default_rng(3))
    assert c.persona.max() < 3


def test_diagnostics_marginals_reuse_and_weights():
    probs = {"party": np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])}
    humans = {"party": np.array([0, 0, 1, -1])}
    w = log_weight_matrix(probs, humans)
    m = greedy_match(w)
    d = diagnose(m, probs, humans, np.array([1.0, 1.0, 2.0, 1.0]))
    fit = d.traits["party"]
    assert np.allclose(fit.human, [0.5, 0.5])
    # Persona 0 twice (weights 1, 1), persona 1 once (weight 2).
    assert np.allclose(fit.matched, [(0.9 + 0.9 + 0.4) / 4, (0.1 + 0.1 + 1.6) / 4])
    assert fit.tvd == pytest.approx(0.5 * np.abs(fit.human - fit.matched).sum())
    assert fit.agreement == pytest.approx((0.9 + 0.9 + 2 * 0.8) / 4)
    assert d.unique_personas == 2 and d.max_reuse == 3 and d.reuse_histogram == {1: 1, 3: 1}
