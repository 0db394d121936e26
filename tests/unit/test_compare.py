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
    assert set(a) == set(METRICS)
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
    out = by_subgroup(h, v, groups, min_size=10)
    mask = groups == "a"
    assert out["a"].wd == pytest.approx(compare(h.take(mask), v.take(mask)).wd)
    assert "tiny" not in out and "None" not in out


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


def test_party_gaps_against_hand_computed_values():
    from silico.core.stats import party_gaps

    # Democrats (rows 0-2) and Republicans (rows 3-5) rate on 1..5 (5 = most negative).
    r = {
        "self": np.array([5.0, 4, 4, 3, 4, 5]),  # own rating of the out-party
        "ingroup": np.array([1.0, 2, 1, 2, 1, 1]),  # own rating of own party
        "meta": np.array([5.0, 5, 4, 4, 5, 5]),  # what they think the out-party thinks of them
    }
    w = np.array([1.0, 1, 2, 1, 1, 2])
    party = ["D", "D", "D", "R", "R", "R"]
    rows = {
        (x["party"], x["gap"]): x for x in party_gaps(r, party, ("D", "R"), w, n_boot=300, seed=3)
    }

    def wm(a, ww):
        return float(np.sum(a * ww) / np.sum(ww))

    d, rr = slice(0, 3), slice(3, 6)
    # Hostility of D: D's rating of R minus D's rating of D.
    assert rows[("D", "hostility")]["value"] == pytest.approx(
        wm(r["self"][d], w[d]) - wm(r["ingroup"][d], w[d])
    )
    # Meta-perception of D: what D thinks R thinks of D minus what R actually thinks of D.
    assert rows[("D", "meta_perception")]["value"] == pytest.approx(
        wm(r["meta"][d], w[d]) - wm(r["self"][rr], w[rr])
    )
    # Subversion of R: how D perceives R's willingness (D's meta answers) minus
    # R's own willingness (R's self answers).
    assert rows[("R", "subversion")]["value"] == pytest.approx(
        wm(r["meta"][d], w[d]) - wm(r["self"][rr], w[rr])
    )
    # Cohen's d of the hostility gap, by hand (weighted, pooled SD with the n-1 convention).
    x, y, wx = r["self"][d], r["ingroup"][d], w[d]
    mx, my = wm(x, wx), wm(y, wx)
    vx = np.sum(wx * (x - mx) ** 2) / wx.sum() * 3 / 2
    vy = np.sum(wx * (y - my) ** 2) / wx.sum() * 3 / 2
    assert rows[("D", "hostility")]["d"] == pytest.approx(
        (mx - my) / np.sqrt((2 * vx + 2 * vy) / 4)
    )
    for row in rows.values():
        assert row["value_low"] <= row["value"] + 1e-9 and row["value"] <= row["value_high"] + 1e-9
    # Respondents of neither party are left out; a party with no one gives NaN, not an error.
    rows2 = party_gaps(r, ["D", "D", "D", "I", "I", "I"], ("D", "R"), n_boot=0)
    assert np.isnan([x["value"] for x in rows2 if x["party"] == "R"]).all()
