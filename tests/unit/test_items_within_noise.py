"""Per item: is the simulation within human noise? Planted cases, an independent WD
reference, the same replicates and splits as the headline, and the report's field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import wasserstein_distance

from silico.core.sampling import draw_responses
from silico.core.stats import (
    Interval,
    ItemNoise,
    Responses,
    compare,
    compare_with_ci,
    item_intervals,
    item_key,
    items_within_noise,
    split_half,
)

REPO = Path(__file__).resolve().parents[2]
NAN = float("nan")


def _population(rng: np.random.Generator, p: int = 4, k: int = 5) -> np.ndarray:
    """A different answer distribution per item (shape (p, k))."""
    return rng.dirichlet(np.full(k, 2.0), size=p)


def _sample(rng: np.random.Generator, pop: np.ndarray, n: int) -> np.ndarray:
    return np.stack([rng.choice(pop.shape[1], size=n, p=d) + 1 for d in pop], axis=1).astype(float)


def _noise(h: Responses, v: Responses, n_boot: int = 200, dists=None, clusters=None, iters=40):
    ci = compare_with_ci(h, v, n_boot, np.random.default_rng(1), dists=dists, clusters=clusters)
    lower = split_half(h, iters, np.random.default_rng(2))
    return items_within_noise(ci, lower, h.p), ci, lower


def test_item_wd_matches_scipy_on_positions_one_to_k(rng):
    pop = _population(rng)
    h = Responses.build(_sample(rng, pop, 300), [5] * 4, rng.random(300) + 0.5)
    v = Responses.build(_sample(rng, pop[::-1], 300), [5] * 4, rng.random(300) + 0.5)
    ci = compare_with_ci(h, v, 5, np.random.default_rng(0))
    for j, x in enumerate(item_intervals(ci, 4)):
        ref = wasserstein_distance(h.values[:, j], v.values[:, j], h.weights, v.weights)
        assert x.estimate == pytest.approx(ref, abs=1e-12)


def test_item_bound_is_the_mean_over_the_same_splits_as_the_headline(rng):
    pop = _population(rng)
    h = Responses.build(_sample(rng, pop, 81), [5] * 4)
    lower = split_half(h, 30, np.random.default_rng(5))
    # The splits, redrawn from the same seed, scored by scipy.
    r, half, per_split = np.random.default_rng(5), 40, []
    for _ in range(30):
        perm = r.permutation(81)
        a, b = h.values[perm[:half]], h.values[perm[half : 2 * half]]
        per_split.append([wasserstein_distance(a[:, j], b[:, j]) for j in range(4)])
    per = np.array(per_split)
    for j, x in enumerate(item_intervals(lower, 4)):
        assert x.estimate == pytest.approx(per[:, j].mean(), abs=1e-12)
        assert x.n == 30 and x.low < x.estimate < x.high
    # The headline bound averages the same splits: the mean of the item means.
    assert lower["wd"].estimate == pytest.approx(per.mean(), abs=1e-12)


def test_one_item_interval_is_the_headline_interval_same_replicates(rng):
    pop = _population(rng, p=1)
    h = Responses.build(_sample(rng, pop, 120), [5])
    v = Responses.build(_sample(rng, pop, 120), [5])
    ci = compare_with_ci(h, v, 100, np.random.default_rng(3))
    assert ci[item_key(0)] == ci["wd"]


def test_item_intervals_draw_nothing_more_from_the_generator(rng):
    """The headline's numbers stay as they were: the per-item figures reuse the
    replicates and splits, so the generator ends where those draws leave it."""
    pop = _population(rng)
    h = Responses.build(_sample(rng, pop, 60), [5] * 4)
    dists = np.broadcast_to(pop, (60, 4, 5)).copy()
    v = Responses.build(draw_responses(dists, h.ks, 11), [5] * 4)
    clusters = np.arange(60) % 20
    used = np.random.default_rng(9)
    compare_with_ci(h, v, 25, used, dists=dists, clusters=clusters)
    expected = np.random.default_rng(9)
    for _ in range(25):
        expected.integers(0, 20, size=20)
        expected.integers(2**62)
    assert used.bit_generator.state == expected.bit_generator.state
    used = np.random.default_rng(4)
    split_half(h, 10, used)
    expected = np.random.default_rng(4)
    for _ in range(10):
        expected.permutation(60)
    assert used.bit_generator.state == expected.bit_generator.state


def test_a_faithful_simulation_is_within_noise_on_every_item(rng):
    """Virtual answers drawn from the humans' own population: the virtual interval
    reaches the human split-half interval on every item."""
    pop = _population(rng)
    n = 400
    h = Responses.build(_sample(rng, pop, n), [5] * 4)
    dists = np.broadcast_to(pop, (n, 4, 5)).copy()
    v = Responses.build(draw_responses(dists, h.ks, 21), [5] * 4)
    noise, _, _ = _noise(h, v, dists=dists)
    assert all(x.within for x in noise)
    for x in noise:
        # Sampling noise of n vs n is below that of n/2 vs n/2, not far from it.
        assert x.wd.low <= x.bound.estimate <= 2.5 * x.wd.high


def test_the_human_sample_itself_is_within_noise_at_zero(rng):
    pop = _population(rng)
    h = Responses.build(_sample(rng, pop, 200), [5] * 4)
    noise, _, _ = _noise(h, h)
    for x in noise:
        assert x.wd.estimate == x.wd.low == x.wd.high == 0.0
        assert x.bound.estimate > 0 and x.within


def test_a_constant_virtual_item_gets_its_honest_wd_and_is_above_noise(rng):
    pop = _population(rng)
    n = 300
    h = Responses.build(_sample(rng, pop, n), [5] * 4)
    vals = _sample(rng, pop, n)
    vals[:, 2] = 3.0  # every persona gives the middle answer
    v = Responses.build(vals, [5] * 4)
    noise, _, _ = _noise(h, v)
    honest = wasserstein_distance(h.values[:, 2], vals[:, 2])
    assert noise[2].wd.estimate == pytest.approx(honest, abs=1e-12) and honest > 0.5
    assert not noise[2].within
    assert noise[2].wd.low > noise[2].bound.high
    assert all(x.within for i, x in enumerate(noise) if i != 2)


def test_an_item_without_virtual_answers_is_nan_and_never_within(rng):
    pop = _population(rng)
    n = 200
    h = Responses.build(_sample(rng, pop, n), [5] * 4)
    vals = _sample(rng, pop, n)
    vals[:, 1] = np.nan
    v = Responses.build(vals, [5] * 4)
    noise, ci, _ = _noise(h, v)
    x = noise[1]
    assert np.isnan(x.wd.estimate) and np.isnan(x.wd.low) and np.isnan(x.wd.high)
    assert x.wd.n == 0 and not x.within
    assert np.isfinite(x.bound.estimate)  # the humans answered it
    assert ci["items_missing"].estimate == 1 and np.isnan(ci["wd"].estimate)
    assert all(np.isfinite(y.wd.estimate) for i, y in enumerate(noise) if i != 1)


def test_within_is_defined_by_the_interval_ends():
    b = Interval(0.30, 0.25, 0.35, 20)
    assert ItemNoise(Interval(0.5, 0.35, 0.6, 100), b).within  # touching counts
    assert ItemNoise(Interval(0.1, 0.05, 0.12, 100), b).within  # below the bound too
    assert not ItemNoise(Interval(0.5, 0.3500001, 0.6, 100), b).within
    assert not ItemNoise(Interval(0.2, 0.1, 0.3, 100), Interval(0.3, NAN, NAN, 1)).within
    assert not ItemNoise(Interval(NAN, 0.1, 0.3, 100), b).within


def test_a_dict_without_item_entries_gives_nan_items_not_zero():
    xs = item_intervals({"wd": Interval(0.2, 0.1, 0.3, 10)}, 2)
    assert len(xs) == 2 and all(np.isnan(x.estimate) and x.n == 0 for x in xs)
    assert not any(x.within for x in items_within_noise({}, {}, 2))


def test_compare_item_scalars_are_the_per_item_wd(rng):
    pop = _population(rng)
    h = Responses.build(_sample(rng, pop, 50), [5] * 4)
    c = compare(h, Responses.build(_sample(rng, pop, 50), [5] * 4))
    assert list(c.item_scalars()) == [item_key(j) for j in range(4)]
    assert list(c.item_scalars().values()) == pytest.approx(c.wd_items.tolist())


# -- the study result and the report ------------------------------------------------


@pytest.fixture(scope="module")
def tiny_result():
    from silico.pipeline.runner import run_study
    from silico.pipeline.spec import parse_spec
    from tests.scripted import ScriptedLM

    raw = yaml.safe_load((REPO / "pipelines/studies/tiny.yaml").read_text())
    raw.pop("higher_order")
    raw["critic"] = {"enabled": False}
    return run_study(parse_spec(raw, REPO / "pipelines/studies"), ScriptedLM())


def test_study_result_carries_items_within_noise_per_panel(tiny_result):
    r = tiny_result
    p = len(r.humans.items)
    assert set(r.items_within_noise) == set(r.comparisons)
    for name, items in r.items_within_noise.items():
        assert len(items) == p
        for j, x in enumerate(items):
            assert x.wd == r.comparisons[name][item_key(j)]
            assert x.bound == r.lower_bound[item_key(j)]


def test_report_writes_the_field_the_csv_and_puts_the_answer_first(tiny_result, tmp_path):
    from silico.report import write_report
    from silico.report._labels import option_label
    from silico.report._tables import NOISE_COLUMNS

    out = write_report(tiny_result, tmp_path / "rep").path
    csv = pd.read_csv(out / "tables" / "items_within_noise.csv")
    assert csv.columns.tolist() == NOISE_COLUMNS
    primary = f"anthology/{tiny_result.spec.matching.primary}"
    assert csv["method"].iloc[0] == primary
    assert set(csv["method"]) == {primary, "qa"}
    doc = json.loads((out / "metrics.json").read_text())
    rows = doc["items_within_noise"]
    assert len(rows) == len(csv) and set(rows[0]) == set(NOISE_COLUMNS)
    assert all(isinstance(x["within"], bool) for x in rows)
    page = (out / "report.html").read_text()
    first_h2 = page.index("<h2")
    assert page.index("Is the simulation within human noise?") < page.index("<h2", first_h2 + 1)
    assert page.index("<img") > first_h2 and page.index('id="fig-within_noise"') < page.index(
        'id="fig-metrics"'
    )
    assert (out / "plots" / "within_noise.png").stat().st_size > 10_000
    for it in tiny_result.humans.items:
        assert f"<small class=code>{it.id}</small>" in page
        for o in it.options:
            assert " ".join(option_label(o, it.k).split()) == " ".join(o.split())
