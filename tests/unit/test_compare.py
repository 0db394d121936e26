"""Human vs virtual comparison, split-half lower bound, bootstrap, subgroups, gaps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from silico.core.errors import ValidationError
from silico.core.stats import (
    METRICS,
    Responses,
    bootstrap,
    by_subgroup,
    cohens_d,
    compare,
    compare_with_ci,
    perception_gap,
    same_sign,
    split_half,
    weighted_corr,
)


def _panel(rng, n, p=5, k=5, noise=1.0):
    latent = rng.normal(size=(n, 1))
    raw = latent + noise * rng.normal(size=(n, p))
    vals = np.clip(np.round(raw + (k + 1) / 2), 1, k)
    return Responses.build(vals, [k] * p, rng.random(n) + 0.5)


def test_compare_against_independent_computation(rng):
    h, v = _panel(rng, 300), _panel(rng, 250, noise=2.0)
    c = compare(h, v)
    ref = [
        wasserstein_distance(h.values[:, j], v.values[:, j], h.weights, v.weights) for j in range(5)
    ]
    assert c.wd == pytest.approx(np.mean(ref), abs=1e-9)
    assert c.wd_norm == pytest.approx(np.mean(ref) / 4, abs=1e-9)
    fro = np.linalg.norm(weighted_corr(h.values, h.weights) - weighted_corr(v.values, v.weights))
    assert c.frobenius == pytest.approx(fro, abs=1e-9)
    assert c.alpha_human > c.alpha_virtual  # less noise, more consistent


def test_compare_identical_is_zero(rng):
    h = _panel(rng, 100)
    c = compare(h, h)
    assert (
        c.wd == 0
        and c.frobenius == pytest.approx(0, abs=1e-12)
        and c.cbs == pytest.approx(0, abs=1e-12)
    )


def test_compare_needs_same_items(rng):
    with pytest.raises(ValidationError, match="same items"):
        compare(_panel(rng, 10, p=3), _panel(rng, 10, p=4))


def test_split_half_is_reproducible_and_below_a_worse_panel(rng):
    h = _panel(rng, 600)
    a = split_half(h, 20, np.random.default_rng(1))
    b = split_half(h, 20, np.random.default_rng(1))
    assert a == b
    assert set(METRICS) <= set(a)
    for m in ("wd", "frobenius"):
        assert a[m].low <= a[m].estimate <= a[m].high
    # A noisier "virtual" panel is further from the humans than half the humans are.
    far = compare(h, _panel(rng, 600, noise=3.0))
    assert far.wd > a["wd"].estimate and far.frobenius > a["frobenius"].high


def test_split_half_rejects_bad_settings(rng):
    with pytest.raises(ValidationError, match="iterations"):
        split_half(_panel(rng, 10), 0, rng)


def test_bootstrap_interval_of_a_mean(rng):
    x = rng.normal(3.0, 1.0, size=400)
    ci = bootstrap(lambda r: {"m": x[r].mean()}, len(x), 500, np.random.default_rng(2))["m"]
    se = x.std(ddof=1) / np.sqrt(len(x))
    assert ci.estimate == pytest.approx(x.mean())
    assert ci.high - ci.low == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_compare_with_ci_pairs_rows(rng):
    h = _panel(rng, 120)
    ci = compare_with_ci(h, h, 30, rng)
    # Resampling matched pairs of identical panels keeps every distance at 0.
    assert ci["wd"].high == 0.0 and ci["frobenius"].high == pytest.approx(0, abs=1e-9)


def test_by_subgroup_equals_compare_on_filtered_rows(rng):
    h, v = _panel(rng, 200), _panel(rng, 200, noise=2)
    groups = np.array(["a", "b", None, "c"] * 50, dtype=object)
    groups[:5] = "tiny"
    out = by_subgroup(h, v, groups, min_size=30, n_boot=20, rng=rng)
    mask = groups == "a"
    assert out["a"].metrics["wd"].estimate == pytest.approx(compare(h.take(mask), v.take(mask)).wd)
    assert out["a"].metrics["wd"].low <= out["a"].metrics["wd"].estimate
    assert out["a"].warning == "" and out["a"].n == 48
    # A small group is reported with a visible warning, not dropped.
    assert out["tiny"].n == 5 and "only 5 respondents (< 30)" in out["tiny"].warning
    assert "None" not in out


def test_constant_virtual_item_never_improves_correlation_distances(rng):
    h = _panel(rng, 300)
    v = _panel(rng, 300, noise=1.5)
    base = compare(h, v)
    vals = v.values.copy()
    vals[:, 2] = 3.0  # one virtual item that never varies
    degenerate = compare(h, Responses.build(vals, v.ks, v.weights))
    # The old code zeroed the undefined entries on both sides and reported a
    # *smaller* Frobenius distance than the honest panel's.
    assert np.isnan(degenerate.frobenius) and np.isnan(degenerate.cbs)
    assert np.isnan(degenerate.l1)
    assert degenerate.corr_undefined == 2 * (h.p - 1) + 1 and base.corr_undefined == 0
    assert degenerate.wd > base.wd


def test_item_without_virtual_answers_makes_mean_wd_undefined(rng):
    h, v = _panel(rng, 200), _panel(rng, 200, noise=2.0)
    vals = v.values.copy()
    vals[:, 0] = np.nan  # every persona non-compliant on item 0
    c = compare(h, Responses.build(vals, v.ks, v.weights))
    assert c.items_missing == 1 and np.isnan(c.wd) and np.isnan(c.wd_norm)
    assert np.isfinite(c.wd_items[1:]).all()


def test_human_undefined_entries_are_left_out_alike(rng):
    # Items never asked together (split ballots) leave a human entry undefined:
    # that is no fault of the simulation and is skipped on both sides.
    h = _panel(rng, 200, p=3)
    hv = h.values.copy()
    hv[:100, 0] = np.nan
    hv[100:, 1] = np.nan
    h2 = Responses.build(hv, h.ks, h.weights)
    c = compare(h2, _panel(rng, 200, p=3))
    assert c.corr_undefined == 0 and np.isfinite(c.frobenius)


def test_clustered_bootstrap_counts_a_reused_persona_once(rng):
    h = _panel(rng, 120)
    # Virtual answers from 4 personas, one matched to 90 humans.
    persona = np.r_[np.zeros(90, int), np.arange(1, 31) % 3 + 1]
    pdist = rng.dirichlet(np.ones(5), size=(4, 5))
    dists = pdist[persona]
    from silico.core.sampling import draw_responses

    vals = draw_responses(dists, h.ks, 7)
    v = Responses.build(vals, h.ks, h.weights)
    naive = compare_with_ci(h, v, 200, np.random.default_rng(3))
    honest = compare_with_ci(h, v, 200, np.random.default_rng(3), dists=dists, clusters=persona)
    assert honest["wd"].estimate == naive["wd"].estimate
    width = {k: c["wd"].high - c["wd"].low for k, c in (("n", naive), ("h", honest))}
    assert width["h"] > 1.5 * width["n"]


def test_split_half_interval_is_on_the_mean(rng):
    h = _panel(rng, 400)
    one = split_half(h, 1, np.random.default_rng(5))
    many = split_half(h, 100, np.random.default_rng(5))
    assert one["wd"].n == 1 and np.isnan(one["wd"].low)
    # A CI on the mean over 100 splits is far narrower than the spread of single splits.
    singles = [split_half(h, 1, np.random.default_rng(s))["wd"].estimate for s in range(40)]
    assert many["wd"].high - many["wd"].low < 0.5 * (
        np.quantile(singles, 0.975) - np.quantile(singles, 0.025)
    )
    assert many["wd"].low < many["wd"].estimate < many["wd"].high


def test_split_half_note_warns_on_small_halves():
    from silico.core.stats import split_half_note

    assert "halves of 20 respondents" in split_half_note(40)
    assert split_half_note(60) == ""


def test_cohens_d_against_hand_computation():
    x = np.array([5, 6, 7, 8, 9.0])
    y = np.array([1, 2, 3.0])
    pooled = np.sqrt(((5 - 1) * np.var(x, ddof=1) + (3 - 1) * np.var(y, ddof=1)) / (5 + 3 - 2))
    assert cohens_d(x, y) == pytest.approx((7 - 2) / pooled, abs=1e-12)
    assert cohens_d(y, x) == pytest.approx(-(7 - 2) / pooled, abs=1e-12)


def test_cohens_d_integer_weights_equal_repetition():
    x, wx = np.array([1, 2, 4.0]), np.array([1, 1, 1.0])
    y = np.array([0, 1, 3.0])
    # With unit weights the weighted form is the unweighted one.
    assert cohens_d(x, y, wx, np.ones(3)) == pytest.approx(cohens_d(x, y), abs=1e-12)


def test_perception_gap_by_hand():
    g = perception_gap([4, 5, 4, 5, np.nan], [2, 2, 1, 3])
    assert (g.mean_x, g.mean_y, g.gap) == (4.5, 2.0, 2.5)
    assert g.n_x == 4 and g.d == pytest.approx(cohens_d([4, 5, 4, 5], [2, 2, 1, 3]))
    assert same_sign(g.gap, 0.3) and not same_sign(g.gap, -0.3) and same_sign(0.01, -0.01, tol=0.05)
    with pytest.raises(ValidationError, match="at least 2"):
        perception_gap([1.0], [2.0, 3.0])
