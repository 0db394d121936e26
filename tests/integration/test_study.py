"""A real (tiny) study in-process on the real model and real CCES data, and its report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from silico.core.stats import split_half
from silico.llm import CompletionsClient, ResponseCache
from silico.pipeline.runner import run_study
from silico.pipeline.spec import load_spec
from silico.report import write_report

from .conftest import MODEL

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "pipelines" / "studies" / "tiny.yaml"


@pytest.fixture(scope="module")
def study(model_server, tmp_path_factory):
    spec = load_spec(TINY)
    cache = ResponseCache()
    out = tmp_path_factory.mktemp("report") / "tiny"
    with CompletionsClient(model_server.base_url, MODEL, concurrency=16, cache=cache) as lm:
        result = run_study(spec, lm)
        write_report(result, out, lm.ledger)
        # The same study again: every model call is answered by the response cache.
        misses = cache.misses
        again = run_study(spec, lm)
        assert cache.misses == misses
    return spec, result, again, out


def test_report_files_exist_and_open_in_pandas(study):
    _, result, _, out = study
    for name in (
        "report.html",
        "metrics.json",
        "plots/distributions.png",
        "plots/correlations.png",
        "plots/metrics.png",
    ):
        assert (out / name).stat().st_size > 0, name
    for name in (
        "headline",
        "matching",
        "subgroups",
        "demographic_fit",
        "compliance",
        "usage",
        "items",
        "critic",
    ):
        pd.read_csv(out / "tables" / f"{name}.csv")
    answers = pd.read_parquet(out / "data" / "answers.parquet")
    assert set(answers["method"]) == set(result.virtual)
    assert len(answers) == len(result.virtual) * result.humans.n * len(result.humans.items)
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "lower bound" in html


def test_replay_is_identical(study):
    _, a, b, _ = study
    assert [x.text for x in a.backstories] == [x.text for x in b.backstories]
    for name in a.virtual:
        assert np.array_equal(a.virtual[name].values, b.virtual[name].values, equal_nan=True)
        wa, wb = a.comparisons[name]["wd"], b.comparisons[name]["wd"]
        assert np.array_equal(
            [wa.estimate, wa.low, wa.high], [wb.estimate, wb.low, wb.high], equal_nan=True
        )


def test_human_side_numbers_match_independent_computation(study):
    spec, result, _, out = study
    doc = json.loads((out / "metrics.json").read_text())
    humans = pd.read_csv(out / "data" / "humans.csv")
    items = spec.questionnaire.items
    # Weighted distributions per item, computed with pandas from the exported rows.
    report_items = pd.read_csv(out / "tables" / "items.csv")
    for item in items:
        obs = humans[[item, "weight"]].dropna()
        k = int(report_items.loc[report_items["item"] == item, "k"].iloc[0])
        expected = (
            obs.groupby(item)["weight"].sum().reindex(range(1, k + 1), fill_value=0)
            / obs["weight"].sum()
        )
        row = report_items[
            (report_items["item"] == item) & (report_items["method"] == "human")
        ].iloc[0]
        assert np.allclose(json.loads(row["distribution"]), expected.to_numpy(), atol=1e-4)
    # Human alpha: covariance formula with frequency weights on complete rows.
    comp = humans[[*items, "weight"]].dropna()
    x, w = comp[items].to_numpy(float), comp["weight"].to_numpy(float)
    cov = np.cov(x, rowvar=False, aweights=w, ddof=0)
    k = len(items)
    alpha = k / (k - 1) * (1 - np.trace(cov) / cov.sum())
    head = pd.DataFrame(doc["headline"])
    assert head["alpha_human"].iloc[0] == pytest.approx(alpha, abs=1e-6)
    # The lower bound is the split-half of the same respondents with the study's seed.
    from silico.core.sampling import derive_seed

    lb = split_half(
        result.humans.responses,
        spec.evaluation.split_half_iterations,
        np.random.default_rng(derive_seed(spec.seed, "split-half")),
    )
    row = head[head["method"].str.contains("lower bound")].iloc[0]
    assert row["wd"] == pytest.approx(lb["wd"].estimate, abs=1e-6)
    assert row["frobenius"] == pytest.approx(lb["frobenius"].estimate, abs=1e-6)


def test_virtual_rows_follow_the_matching(study):
    _, result, _, out = study
    matchings = pd.read_csv(out / "data" / "matchings.csv")
    assert set(matchings["method"]) == set(result.matchings)
    hung = matchings[matchings["method"] == "hungarian"]
    assert hung["persona_id"].is_unique
    cap = matchings[matchings["method"] == "capacity"]
    assert cap["persona_id"].value_counts().max() <= result.spec.matching.capacity
    # Every answer the model gave sums to one over an item's options; a dropped
    # (non-compliant) answer is all NaN, never a guess.
    ks = result.humans.responses.ks
    for j, k in enumerate(ks):
        p = result.persona_answers[:, j, :k]
        ok = np.isfinite(p).all(axis=1)
        assert np.allclose(p[ok].sum(axis=1), 1.0) and np.isnan(p[~ok]).all()


def test_cli_bad_spec_is_one_line_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbackstories: {count: many}\n")
    r = subprocess.run(
        [sys.executable, "-m", "silico.cli", "run", str(bad), "--in-process"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert "silico: error:" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "silico.cli", "validate", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "file not found" in r.stderr


def test_higher_order_gaps_are_reported(study):
    """The tiny study declares one perception item: partisan personas answer its five
    variants, and the gaps follow from their answers by the formulas of party_gaps."""
    spec, result, again, out = study
    ho = result.higher_order
    assert ho is not None
    assert json.dumps(ho, sort_keys=True) == json.dumps(again.higher_order, sort_keys=True)
    from silico.pipeline import higher_order as ho_mod

    units = ho_mod.units(spec.higher_order, result.persona_traits["party"])
    assert ho["n_partisan_personas"] == len(units)
    assert all(len(u.items) == 5 for u in units)  # self, own, ingroup, outgroup, meta
    gaps = pd.read_csv(out / "tables" / "higher_order.csv")
    assert set(gaps["gap"]) == {"hostility", "meta_perception"}  # a rating item
    assert set(gaps["party"]) == {"Democrats", "Republicans"}
    means = pd.read_csv(out / "tables" / "higher_order_means.csv")
    for _, g in gaps[gaps["gap"] == "hostility"].iterrows():
        m = means[(means["item"] == "warmth") & (means["party"] == g["party"])].iloc[0]
        if m["n"] >= 2:  # hostility = mean rating of the other party - of one's own
            assert g["value"] == pytest.approx(m["self"] - m["own"], abs=1e-9)
        for p in ("self", "own", "ingroup", "outgroup", "meta"):
            assert np.isnan(m[p]) or 1 <= m[p] <= 5
    assert "Higher-order perceptions" in (out / "report.html").read_text()
