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


# --- at scale: exact weights, the screen, and the fast paths against references ---


def _survey_problem(rng, n_h, n_v, cats=(4, 2, 5, 6, 5, 4), alpha=0.3, missing=0.05):
    """Peaked persona distributions (tiny probabilities hit the floor) and some missing traits."""
    probs = {f"t{i}": rng.dirichlet(np.full(c, alpha), size=n_v) for i, c in enumerate(cats)}
    humans = {
        f"t{i}": np.where(rng.random(n_h) < missing, -1, rng.integers(0, c, size=n_h))
        for i, c in enumerate(cats)
    }
    return probs, humans


def _reference_greedy(dense):
    best = dense.argmax(axis=1)
    return best, dense[np.arange(len(dense)), best]


def _reference_capacity(dense, k, s):
    """The plain definition: in descending survey weight, the best persona with room."""
    h, v = dense.shape
    load = np.zeros(v, dtype=int)
    persona = np.empty(h, dtype=np.int64)
    for i in np.argsort(-s, kind="stable"):
        row = dense[i].copy()
        row[load >= k] = -np.inf
        persona[i] = row.argmax()
        load[persona[i]] += 1
    return persona, dense[np.arange(h), persona]


def _with_ties(probs, humans):
    """Duplicate personas (every other one copies persona 0) and duplicate humans."""
    probs = {t: p.copy() for t, p in probs.items()}
    humans = {t: c.copy() for t, c in humans.items()}
    for t in probs:
        probs[t][1::2] = probs[t][0]
        humans[t][1::3] = humans[t][0]
    return probs, humans


def test_rows_pairs_and_dense_agree_to_the_bit_with_and_without_fused_tables(rng, monkeypatch):
    import silico.core.matching._weights as weights

    # Small fused tables force several trait groups, so addition order matters.
    monkeypatch.setattr(weights, "_FUSED_TABLE_BYTES", 8 * 400 * 40)
    probs, humans = _survey_problem(rng, 600, 400)
    prob = MatchProblem.build(probs, humans)
    assert len(prob._groups) > 2
    few = np.array([5, 3, 599, 5])
    by_trait = prob.rows(few)
    dense = prob.dense()  # 600 rows: built from the fused tables
    assert "_fused" in prob.__dict__
    assert np.array_equal(by_trait, dense[few])
    assert np.array_equal(prob.rows(few), dense[few])
    h = rng.integers(0, 600, size=2000)
    v = rng.integers(0, 400, size=2000)
    assert np.array_equal(prob.pairs(h, v), dense[h, v])
    assert np.array_equal(log_weight_matrix(probs, humans), dense)


@pytest.mark.parametrize("alpha", [0.05, 0.3, 3.0])
def test_screen_is_within_its_error_bound(rng, alpha):
    probs, humans = _survey_problem(rng, 300, 700, cats=(4, 2, 5, 6, 5, 4, 5, 4, 5), alpha=alpha)
    humans["t0"][:10] = -1
    for t in humans:
        humans[t][10] = -1  # every trait missing
    prob = MatchProblem.build(probs, humans)
    out = np.empty((300, 704), dtype=np.float32)
    shift, error = prob.screen.block(prob.human_categories, out)
    assert np.all(np.isneginf(out[:, 700:]))
    gap = np.abs(out[:, :700] + shift[:, None] - prob.dense())
    assert np.all(gap <= error[:, None])
    assert np.all(error < 1e-2)


@pytest.mark.parametrize("ties", [False, True])
def test_greedy_equals_the_dense_argmax_to_the_bit(rng, ties):
    for n_h, n_v in [(1, 1), (50, 1), (200, 3000), (500, 700)]:
        probs, humans = _survey_problem(rng, n_h, n_v)
        if ties:
            probs, humans = _with_ties(probs, humans)
        prob = MatchProblem.build(probs, humans)
        ref_p, ref_w = _reference_greedy(prob.dense())
        got = greedy_match(MatchProblem.build(probs, humans))
        assert np.array_equal(got.persona, ref_p)
        assert np.array_equal(got.log_weight, ref_w)


def test_greedy_with_identical_personas_takes_the_first():
    probs = {"a": np.tile([0.2, 0.8], (500, 1)), "b": np.tile([0.5, 0.3, 0.2], (500, 1))}
    humans = {"a": np.array([0, 1, -1, 1]), "b": np.array([2, -1, -1, 0])}
    m = greedy_match(MatchProblem.build(probs, humans))
    assert m.persona.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("ties", [False, True])
def test_capacity_equals_the_straightforward_reference(rng, ties):
    for n_h, n_v, k in [(300, 2500, 1), (400, 200, 2), (600, 200, 3), (30, 10, 3), (1, 1, 1)]:
        probs, humans = _survey_problem(rng, n_h, n_v)
        if ties:
            probs, humans = _with_ties(probs, humans)
        # Rounded survey weights tie too; index order breaks those.
        s = np.round(rng.random(n_h) * 3, 1)
        prob = MatchProblem.build(probs, humans)
        dense = prob.dense()
        ref_p, ref_w = _reference_capacity(dense, k, s)
        for src in (MatchProblem.build(probs, humans), dense):
            got = capacity_match(src, k, s)
            assert np.array_equal(got.persona, ref_p)
            assert np.array_equal(got.log_weight, ref_w)


@settings(max_examples=40, deadline=None)
@given(
    n_h=st.integers(1, 60),
    n_v=st.integers(1, 80),
    k=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_capacity_equals_the_reference_on_random_shapes(n_h, n_v, k, seed):
    rng = np.random.default_rng(seed)
    if k * n_v < n_h:
        return
    probs, humans = _random_problem(rng, n_h, n_v)
    prob = MatchProblem.build(probs, humans)
    s = rng.integers(0, 3, size=n_h).astype(float)
    ref_p, ref_w = _reference_capacity(prob.dense(), k, s)
    got = capacity_match(prob, k, s)
    assert np.array_equal(got.persona, ref_p)
    assert np.array_equal(got.log_weight, ref_w)


def _check_sparse_hungarian(src, raw=False, candidates=16, rel=1e-10):
    dense = src if isinstance(src, np.ndarray) else src.dense()
    want = hungarian_match(dense, raw=raw, solver="dense")
    got = hungarian_match(src, raw=raw, solver="sparse", candidates=candidates)
    assert got.detail["solver"].startswith("sparse") and got.detail["exact"]
    assert len(set(got.persona.tolist())) == len(got.persona)
    assert np.array_equal(got.log_weight, dense[np.arange(len(dense)), got.persona])
    f = np.exp if raw else (lambda x: x)
    assert float(f(got.log_weight).sum()) == pytest.approx(
        float(f(want.log_weight).sum()), rel=rel, abs=1e-12
    )
    return got


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("candidates", [1, 4, 16])
def test_sparse_hungarian_total_equals_the_dense_optimum(rng, raw, candidates):
    for n_h, n_v in [(40, 40), (150, 900), (400, 2500)]:
        probs, humans = _survey_problem(rng, n_h, n_v)
        _check_sparse_hungarian(MatchProblem.build(probs, humans), raw, candidates)


def test_sparse_hungarian_degenerate_cases(rng):
    # Every persona identical: every assignment is optimal.
    probs = {"a": np.tile([0.2, 0.8], (60, 1)), "b": np.tile([0.5, 0.3, 0.2], (60, 1))}
    humans = {"a": rng.integers(-1, 2, size=50), "b": rng.integers(-1, 3, size=50)}
    _check_sparse_hungarian(MatchProblem.build(probs, humans), candidates=2)
    # A single persona column (and a single human).
    one = MatchProblem.build({"a": np.array([[0.3, 0.7]])}, {"a": [1]})
    assert _check_sparse_hungarian(one).persona.tolist() == [0]
    # Humans with every trait missing share one profile and one constant row.
    probs, humans = _survey_problem(rng, 80, 120)
    for t in humans:
        humans[t][:] = -1
    _check_sparse_hungarian(MatchProblem.build(probs, humans), candidates=3)
    # Duplicated personas and humans: ties everywhere.
    probs, humans = _with_ties(*_survey_problem(rng, 200, 400))
    _check_sparse_hungarian(MatchProblem.build(probs, humans), candidates=2)
    _check_sparse_hungarian(MatchProblem.build(probs, humans), raw=True, candidates=2)
    # A weight of exactly 0 (log 1) must stay an edge for the sparse solver.
    probs = {"a": np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])}
    _check_sparse_hungarian(MatchProblem.build(probs, {"a": [0, 1]}), candidates=1)


@pytest.mark.parametrize("raw", [False, True])
def test_sparse_hungarian_with_many_duplicate_humans_solves_the_transportation_lp(rng, raw):
    # Two traits, eight profiles for 400 humans: expanding profiles into
    # humans would square the pairs, so the profile-level LP solves it.
    probs, humans = _survey_problem(rng, 400, 900, cats=(4, 2), missing=0.0)
    got = _check_sparse_hungarian(MatchProblem.build(probs, humans), raw=raw, candidates=4)
    assert got.detail["solver"] == "sparse-lp"


def test_sparse_hungarian_falls_back_to_lapjvsp_when_the_lp_gives_up(rng, monkeypatch):
    import silico.core.matching._assign as assign

    monkeypatch.setattr(assign, "_solve_lp", lambda *args: None)
    probs, humans = _survey_problem(rng, 200, 500, cats=(4, 2), missing=0.0)
    got = _check_sparse_hungarian(MatchProblem.build(probs, humans), candidates=4)
    assert got.detail["solver"] == "sparse"


def test_sparse_hungarian_on_a_dense_matrix_grows_its_candidates(rng):
    # Everyone prefers the same few personas: one candidate each cannot be
    # optimal, so the duality check must add pairs until it is.
    popular = np.sort(rng.random(300))[::-1] * 5
    w = popular[None, :] + rng.normal(scale=0.3, size=(100, 300))
    got = _check_sparse_hungarian(w, candidates=1)
    assert got.detail["rounds"] > 1 and got.detail["checked_rows"] > 0
    _check_sparse_hungarian(np.log(rng.random((30, 45))), raw=True, candidates=2)


def test_hungarian_solver_choice(rng, monkeypatch):
    import silico.core.matching._assign as assign

    probs, humans = _survey_problem(rng, 60, 90)
    prob = MatchProblem.build(probs, humans)
    assert hungarian_match(prob).detail["solver"] == "dense"
    monkeypatch.setattr(assign, "_SPARSE_MIN_PAIRS", 100)
    auto = hungarian_match(prob)
    assert auto.detail["solver"].startswith("sparse")
    # Non-finite weights always go to the dense solver.
    w = prob.dense()
    w[0, 0] = -np.inf
    assert hungarian_match(w).detail["solver"] == "dense"
    with pytest.raises(ValidationError, match="solver"):
        hungarian_match(prob, solver="fast")
    with pytest.raises(ValidationError, match="candidates"):
        hungarian_match(prob, solver="sparse", candidates=0)


def test_matching_keeps_its_three_field_constructor(rng):
    from silico.core.matching import Matching

    m = Matching(np.array([1, 0]), np.array([-1.0, -2.0]), "greedy")
    assert m.detail == {}
    probs, humans = _survey_problem(rng, 30, 50)
    detail = hungarian_match(MatchProblem.build(probs, humans), solver="sparse").detail
    assert {"solver", "candidates", "rounds", "pairs", "gap_bound", "exact"} <= set(detail)


def test_random_match_reports_exact_pair_weights(rng):
    probs, humans = _survey_problem(rng, 40, 70)
    prob = MatchProblem.build(probs, humans)
    m = random_match(40, 70, np.random.default_rng(1), prob)
    assert np.array_equal(m.log_weight, prob.dense()[np.arange(40), m.persona])


def test_empty_human_set_matches_nothing():
    prob = MatchProblem.build({"a": np.array([[0.5, 0.5]])}, {"a": np.array([], dtype=int)})
    for m in (greedy_match(prob), hungarian_match(prob), capacity_match(prob, 1)):
        assert m.persona.shape == (0,) and m.log_weight.shape == (0,)
