"""Distances and correlations against independent references (scipy, POT, numpy, pandas)."""

from __future__ import annotations

import numpy as np
import ot
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import wasserstein_distance

from silico.core.errors import ValidationError
from silico.core.stats import (
    Responses,
    cbs_distance,
    cronbach_alpha,
    distributions,
    frobenius_distance,
    l1_distance,
    normalised_wasserstein,
    wasserstein_ordinal,
    weighted_corr,
)


def test_wd_matches_scipy_and_pot_on_random_distributions(rng):
    for _ in range(200):
        k = int(rng.integers(2, 12))
        p, q = rng.random(k), rng.random(k)
        p[rng.random(k) < 0.2] = 0.0
        p[0] += 1e-3
        x = np.arange(1, k + 1, dtype=float)
        ours = wasserstein_ordinal(p, q)
        ref_scipy = wasserstein_distance(x, x, p, q)
        ref_pot = float(ot.wasserstein_1d(x, x, p / p.sum(), q / q.sum(), p=1))
        assert ours == pytest.approx(ref_scipy, abs=1e-9)
        assert ours == pytest.approx(ref_pot, abs=1e-9)
        assert normalised_wasserstein(p, q) == pytest.approx(ref_scipy / (k - 1), abs=1e-9)


def test_wd_with_uneven_positions_matches_scipy(rng):
    x = np.array([0.0, 0.5, 3.0, 7.0])
    p, q = rng.random(4), rng.random(4)
    assert wasserstein_ordinal(p, q, x) == pytest.approx(wasserstein_distance(x, x, p, q), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.01, 10), min_size=2, max_size=10), st.data())
def test_wd_is_symmetric_and_zero_on_equal_inputs(p, data):
    q = data.draw(st.lists(st.floats(0.01, 10), min_size=len(p), max_size=len(p)))
    assert wasserstein_ordinal(p, p) == pytest.approx(0.0, abs=1e-12)
    assert wasserstein_ordinal(p, q) == pytest.approx(wasserstein_ordinal(q, p), abs=1e-12)
    assert 0.0 <= normalised_wasserstein(p, q) <= 1.0 + 1e-12


def test_wd_rejects_bad_input():
    with pytest.raises(ValidationError, match="q"):
        wasserstein_ordinal([1, 0], [1, 0, 0])
    with pytest.raises(ValidationError, match="no mass"):
        wasserstein_ordinal([0, 0], [1, 0])
    with pytest.raises(ValidationError, match="non-negative"):
        wasserstein_ordinal([-1, 2], [1, 0])


def test_weighted_corr_equals_numpy_on_complete_unweighted_data(rng):
    x = rng.integers(1, 6, size=(300, 7)).astype(float)
    assert np.allclose(weighted_corr(x), np.corrcoef(x, rowvar=False), atol=1e-9)


def test_weighted_corr_equals_numpy_weighted_covariance(rng):
    x = rng.normal(size=(200, 5))
    w = rng.random(200) * 3
    c = np.cov(x, rowvar=False, aweights=w)
    ref = c / np.sqrt(np.outer(np.diag(c), np.diag(c)))
    assert np.allclose(weighted_corr(x, w), ref, atol=1e-9)


def test_weighted_corr_pairwise_complete_equals_pandas(rng):
    x = rng.integers(1, 5, size=(400, 6)).astype(float)
    x[rng.random(x.shape) < 0.3] = np.nan
    ref = pd.DataFrame(x).corr(method="pearson").to_numpy()
    assert np.allclose(weighted_corr(x), ref, atol=1e-9, equal_nan=True)


def test_weighted_corr_constant_item_is_undefined():
    x = np.array([[1, 1.0], [2, 1.0], [3, 1.0]])
    r = weighted_corr(x)
    assert r[0, 0] == 1.0 and np.isnan(r[0, 1]) and np.isnan(r[1, 1])


def test_matrix_distances_match_numpy(rng):
    a = np.corrcoef(rng.normal(size=(50, 6)), rowvar=False)
    b = np.corrcoef(rng.normal(size=(50, 6)), rowvar=False)
    assert frobenius_distance(a, b) == pytest.approx(np.linalg.norm(a - b, "fro"), abs=1e-12)
    assert l1_distance(a, b) == pytest.approx(np.abs(a - b).sum(), abs=1e-12)
    ref = 1 - np.trace(a @ b) / (np.linalg.norm(a, "fro") * np.linalg.norm(b, "fro"))
    assert cbs_distance(a, b) == pytest.approx(ref, abs=1e-12)
    assert cbs_distance(a, a) == pytest.approx(0.0, abs=1e-12)


def test_matrix_distances_skip_undefined_entries():
    a = np.array([[1.0, np.nan], [np.nan, 1.0]])
    b = np.array([[1.0, 0.3], [0.3, 1.0]])
    assert frobenius_distance(a, b) == 0.0


def _alpha_reference(x: np.ndarray) -> float:
    cov = np.cov(x, rowvar=False)
    k = x.shape[1]
    return k / (k - 1) * (1 - np.trace(cov) / cov.sum())


def test_alpha_matches_covariance_formula(rng):
    for _ in range(20):
        latent = rng.normal(size=(150, 1))
        x = latent + rng.normal(size=(150, 6)) * rng.random() * 2
        assert cronbach_alpha(x) == pytest.approx(_alpha_reference(x), abs=1e-9)


def test_alpha_textbook_values():
    # Identical items: alpha = 1; orthogonal items of equal variance: alpha = 0.
    assert cronbach_alpha(np.array([[1, 1], [2, 2], [4, 4.0]])) == pytest.approx(1.0)
    assert cronbach_alpha(np.array([[1, 1], [1, -1], [-1, 1], [-1, -1.0]])) == pytest.approx(0.0)
    # Two parallel items with correlation r: alpha = 2r / (1 + r).
    x = np.array([[1, 2], [2, 1], [3, 4], [4, 3.0]])
    r = np.corrcoef(x, rowvar=False)[0, 1]
    assert cronbach_alpha(x) == pytest.approx(2 * r / (1 + r), abs=1e-12)


def test_alpha_uses_complete_rows_and_weights():
    x = np.array([[1, 1], [2, 3], [3, 2], [np.nan, 1], [4, 4.0]])
    assert cronbach_alpha(x) == pytest.approx(_alpha_reference(x[[0, 1, 2, 4]]), abs=1e-12)
    # Integer weights equal row repetition.
    w = np.array([1, 2, 1, 1, 3.0])
    rep = np.repeat(x[[0, 1, 2, 4]], [1, 2, 1, 3], axis=0)
    assert cronbach_alpha(x, w) == pytest.approx(_alpha_reference(rep), abs=1e-12)


def test_distributions_weighted_and_missing():
    r = Responses.build([[1, 3], [2, np.nan], [2, 1], [1, 1]], [2, 3], [1, 1, 2, 0.5])
    d = distributions(r)
    assert np.allclose(d[0], [1.5 / 4.5, 3 / 4.5])
    assert np.allclose(d[1], [2.5 / 3.5, 0, 1 / 3.5])


def test_responses_reject_out_of_range_positions():
    with pytest.raises(ValidationError, match=r"responses\[1, 0\]"):
        Responses.build([[1], [4]], [3])
    with pytest.raises(ValidationError, match="weights"):
        Responses.build([[1], [2]], [3], [1.0, -1.0])
