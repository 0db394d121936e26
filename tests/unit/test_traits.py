"""Trait catalogue, survey schemes and the mapping of fine categories onto coarse ones."""

from __future__ import annotations

import numpy as np
import pytest

from silico.core.errors import NotFoundError, ValidationError
from silico.core.traits import (
    CATALOGUE,
    SCHEMES,
    coarsen,
    get_scheme,
    interval_mapping,
    label_mapping,
)


def test_catalogue_covers_the_reference_traits():
    assert set(CATALOGUE) == {
        "age",
        "gender",
        "race",
        "education",
        "income",
        "region",
        "religion",
        "party",
        "ideology",
    }
    for t in CATALOGUE.values():
        assert len(t.bio) == len(t.categories)


def test_every_scheme_row_sums_to_one_or_zero():
    for s in SCHEMES.values():
        rows = s.matrix.sum(axis=1)
        assert np.all(np.isclose(rows, 1) | np.isclose(rows, 0))


def test_interval_mapping_splits_by_overlap():
    s = get_scheme("income_gss5")
    fine = CATALOGUE["income"].categories
    row = s.matrix[fine.index("$100,000 to $149,999")]
    # 100-110k of the 100-150k band falls in 75-110k, the rest in 110k+.
    assert np.allclose(row, [0, 0, 0, 0.2, 0.8])
    assert np.allclose(s.matrix[fine.index("$50,000 to $74,999")], [0, 0, 1, 0, 0])


def test_interval_mapping_must_cover_range():
    with pytest.raises(ValidationError, match="cover"):
        interval_mapping("age", [20, 30, 100], ["a", "b"])
    with pytest.raises(ValidationError, match="not an interval trait"):
        interval_mapping("party", [0, 1], ["x"])


def test_coarsen_drops_prefer_not_and_unmapped_then_renormalises():
    gender = get_scheme("gender2")
    # Male .3, Female .3, Other .2 (no place in a 2-category survey), prefer-not .2
    assert np.allclose(coarsen([0.3, 0.3, 0.2, 0.2], gender), [0.5, 0.5])
    assert np.allclose(coarsen([0, 0, 0.5, 0.5], gender), [0.5, 0.5])  # nothing left: uniform
    age = get_scheme("age4")
    q = coarsen([0.1, 0.1, 0.2, 0.2, 0.3, 0.1, 0.0], age)
    assert np.allclose(q, [0.2, 0.4, 0.3, 0.1]) and q.sum() == pytest.approx(1)


def test_coarsen_is_mass_preserving_on_random_inputs(rng):
    for name, s in SCHEMES.items():
        n = s.matrix.shape[0] + 1
        p = rng.dirichlet(np.ones(n))
        q = coarsen(p, s)
        assert q.sum() == pytest.approx(1.0), name
        assert np.all(q >= 0)


def test_scheme_errors_name_the_problem():
    with pytest.raises(ValidationError, match="several groups"):
        label_mapping("party", {"a": ["Democrat"], "b": ["Democrat"]})
    with pytest.raises(ValidationError, match="not a category"):
        label_mapping("party", {"a": ["Whig"]})
    with pytest.raises(NotFoundError):
        get_scheme("nope")
    with pytest.raises(ValidationError, match="expected 5"):
        coarsen([0.5, 0.5], get_scheme("party4"))
