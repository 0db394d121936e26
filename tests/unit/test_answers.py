"""Survey answering: non-compliance is missing, the official sampled procedure,
in-series mode, persona framing, and the anthology-2024 preset (scripted model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from silico.core.prompts import SERIES_INSTRUCTION, Item
from silico.core.stats import Responses, compare
from silico.pipeline.assemble import dropped_answers, virtual_panels
from silico.pipeline.runner import run_study
from silico.pipeline.spec import load_spec, parse_spec
from silico.pipeline.stages import Backstory, score_items
from silico.pipeline.units import persona_context
from tests.scripted import MUMBLE, MUTE, ScriptedLM

REPO = Path(__file__).resolve().parents[2]
ITEMS = [
    Item("q1", "Do you agree?", ("Agree", "Neutral", "Disagree")),
    Item("q2", "How often?", ("Never", "Sometimes", "Often", "Always")),
]


def test_a_persona_that_never_answers_is_missing_not_a_random_answer():
    lm = ScriptedLM()
    sc = score_items(lm, ["I am Ann.", f"I am Bob. {MUTE}"], ITEMS, ("identity", "reversed"))
    assert np.isfinite(sc.probs[0, 0, :3]).all()
    # The old code gave Bob a uniform distribution and then drew a random answer from it.
    assert np.isnan(sc.probs[1]).all() and (sc.compliance[1] == 0).all()
    ks = np.array([3, 4])
    from silico.core.matching import Matching

    m = Matching(np.array([0, 1, 1, 0]), np.zeros(4), "greedy")
    spec = load_spec(REPO / "pipelines/studies/tiny.yaml")
    panels = virtual_panels(spec, {"greedy": m}, sc.probs, {}, ks, np.ones(4))
    vals = panels["anthology/greedy"].responses.values
    assert np.isnan(vals[1:3]).all() and np.isfinite(vals[[0, 3]]).all()
    from silico.core.data import SurveyData

    humans = SurveyData(
        ids=np.arange(4),
        items=ITEMS,
        responses=Responses.build(np.ones((4, 2)), ks),
        traits={},
        schemes={},
        groups={},
    )
    d = dropped_answers(humans, {k: p.responses for k, p in panels.items()})
    assert d["anthology/greedy"] == {"total": 4, "of": 8, "items": {"q1": 2, "q2": 2}}


def test_min_compliance_drops_an_order_below_the_threshold():
    lm = ScriptedLM()
    ctx = f"I am Cy. {MUMBLE}"  # 5 % of the mass on letters
    low = score_items(lm, [ctx], ITEMS, ("identity",), min_compliance=0.0)
    high = score_items(lm, [ctx], ITEMS, ("identity",), min_compliance=0.1)
    assert np.isfinite(low.probs[0, 0, :3]).all() and low.compliance[0, 0] == pytest.approx(0.05)
    assert np.isnan(high.probs[0]).all() and high.compliance[0, 0] == pytest.approx(0.05)


def test_sampled_mode_balances_option_orders_and_records_retries():
    lm = ScriptedLM(sampled_fail=0.3)
    ctxs = [f"I am persona {i}." for i in range(60)]
    sc = score_items(
        lm, ctxs, ITEMS, ("identity", "reversed"), estimator="sampled", seed=3, max_attempts=4
    )
    shown = [p for p in lm.prompts if "Answer with" in p]
    reversed_shown = sum("(A) Disagree" in p or "(A) Always" in p for p in shown)
    identity_shown = sum("(A) Agree" in p or "(A) Never" in p for p in shown)
    # The old code always showed the identity order.
    assert reversed_shown > 0.3 * len(shown) and identity_shown > 0.3 * len(shown)
    # One completion per answer, plus the retries of non-compliant samples.
    assert sc.attempts.sum() == len(shown) and sc.attempts.max() <= 4
    assert (sc.attempts > 1).any()
    answered = np.isfinite(sc.probs[:, :, 0])
    assert ((sc.compliance == 1) == answered).all()
    # Each answer is one sampled option (one-hot), mapped back to canonical order.
    ok = sc.probs[answered[:, 0], 0, :3]
    assert (ok.max(axis=1) == 1).all()
    # Reproducible with the same seed.
    again = score_items(
        ScriptedLM(sampled_fail=0.3),
        ctxs,
        ITEMS,
        ("identity", "reversed"),
        estimator="sampled",
        seed=3,
        max_attempts=4,
    )
    assert np.array_equal(np.nan_to_num(again.probs), np.nan_to_num(sc.probs))


def test_sampled_answer_that_never_complies_is_dropped_after_the_budget():
    lm = ScriptedLM()
    sc = score_items(
        lm, [f"x {MUTE}"], ITEMS[:1], ("identity",), estimator="sampled", max_attempts=5
    )
    assert np.isnan(sc.probs[0, 0]).all() and sc.attempts[0, 0] == 5 and sc.compliance[0, 0] == 0


def test_in_series_mode_keeps_earlier_answers_in_context():
    lm = ScriptedLM()
    items = [*ITEMS, Item("q3", "Is it fair?", ("Yes", "No"))]
    sc = score_items(lm, ["I am Dee.", "I am Eve."], items, ("identity",), series=True, seed=1)
    assert np.isfinite(sc.probs[:, :, 0]).all()
    firsts = [p for p in lm.prompts if SERIES_INSTRUCTION not in p]
    later = [p for p in lm.prompts if SERIES_INSTRUCTION in p]
    assert len(firsts) == 2 and len(later) == 4
    # The last question of each persona sees the two earlier ones with their answers.
    last = later[1]
    # Two answered "(X)" and the open "Answer: (" of the question asked now.
    assert last.count("Question:") == 3 and last.count("Answer: (") == 3
    assert last.rstrip().endswith("Answer: (")
    order_dee = [q for q in ("Do you agree?", "How often?", "Is it fair?") if q in later[1]]
    assert len(order_dee) == 3


def test_persona_context_keeps_the_backstory_framing():
    spec = load_spec(REPO / "pipelines/studies/tiny.yaml")
    b = Backstory("id", "I grew up in Ohio.", 1, 10, 1, True)
    ctx = persona_context(spec, b)
    assert ctx.startswith("Question: Tell me about yourself.")
    assert ctx.endswith("\n\nAnswer: I grew up in Ohio.")


def test_run_study_on_a_scripted_model_reports_dropped_answers(tmp_path):
    raw = yaml.safe_load((REPO / "pipelines/studies/tiny.yaml").read_text())
    raw.pop("higher_order")
    raw["critic"] = {"enabled": False}
    raw["evaluation"].update(subgroup_bootstrap=5, min_subgroup=30)
    spec = parse_spec(raw, REPO / "pipelines/studies")
    result = run_study(spec, ScriptedLM())
    d = result.diagnostics
    assert set(d["dropped_answers"]) == {f"anthology/{m}" for m in result.matchings} | {"qa"}
    assert d["split_half"]["half_size"] == 6 and "halves of 6" in d["split_half"]["warning"]
    assert "clustered by persona" in d["bootstrap_method"]
    party = result.subgroups["party"]["qa"]
    assert all(g.warning for g in party.values())  # tiny groups are flagged, not dropped
    assert result.subgroup_bounds["party"]


def test_procedure_preset_sets_the_official_settings_under_the_specs_own():
    raw = yaml.safe_load((REPO / "pipelines/studies/tiny.yaml").read_text())
    raw["procedure"] = "anthology-2024"
    raw["survey"] = {"max_attempts": 7}
    spec = parse_spec(raw, REPO / "pipelines/studies")
    assert spec.survey.estimator == "sampled" and spec.survey.max_attempts == 7
    assert spec.demographics.estimator == "sampled" and spec.demographics.samples == 40
    # The spec's own demographic orders survive the preset.
    assert spec.demographics.orders == ["identity", "reversed"]
    assert spec.matching.hungarian_objective == "raw" and not spec.evaluation.weighted
    assert spec.evaluation.split_half_iterations == 5  # the spec's own
    assert spec.backstories.citizen_preamble and spec.backstories.max_tokens == 64
    silico = parse_spec(yaml.safe_load((REPO / "pipelines/studies/tiny.yaml").read_text()))
    assert silico.procedure == "silico" and silico.survey.estimator == "logprob"


def test_preset_metric_functions_equal_the_official_definitions():
    from itertools import permutations

    from scipy.stats import wasserstein_distance

    from silico.core.matching import hungarian_match
    from silico.core.stats import cronbach_alpha

    rng = np.random.default_rng(4)
    h = rng.integers(1, 5, size=(30, 3)).astype(float)
    v = rng.integers(1, 5, size=(30, 3)).astype(float)
    ks = [4, 4, 4]
    c = compare(Responses.build(h, ks), Responses.build(v, ks))
    # Raw-position WD: scipy on the positions 1..K, averaged over items.
    wd = np.mean([wasserstein_distance(h[:, j], v[:, j]) for j in range(3)])
    assert c.wd == pytest.approx(wd, abs=1e-12)
    # Unweighted Pearson correlations (numpy), Frobenius of the difference.
    fro = np.linalg.norm(np.corrcoef(h.T) - np.corrcoef(v.T))
    assert c.frobenius == pytest.approx(fro, abs=1e-12)
    # Cronbach's alpha, by its formula with sample variances.
    a = 3 / 2 * (1 - h.var(axis=0, ddof=1).sum() / h.sum(axis=1).var(ddof=1))
    assert cronbach_alpha(h) == pytest.approx(a, abs=1e-12)
    # Hungarian on raw likelihood products: the best permutation by brute force.
    w = rng.random((4, 4)) ** 3
    best = max(permutations(range(4)), key=lambda p: sum(w[i, p[i]] for i in range(4)))
    assert hungarian_match(np.log(w), raw=True).persona.tolist() == list(best)


def test_report_shows_dropped_answers_uncertainty_and_the_critic(tmp_path):
    import json

    import pandas as pd

    from silico.report import write_report

    raw = yaml.safe_load((REPO / "pipelines/studies/tiny.yaml").read_text())
    raw.pop("higher_order")
    raw["critic"] = {"min_coherence": -3.0}
    spec = parse_spec(raw, REPO / "pipelines/studies")
    result = run_study(spec, ScriptedLM())
    out = write_report(result, tmp_path / "rep").path
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["uncertainty"]["split_half"]["half_size"] == 6
    assert "clustered by persona" in doc["uncertainty"]["bootstrap"]
    assert set(doc["dropped_answers"]) >= {"qa"}
    page = (out / "report.html").read_text()
    page = " ".join(page.split())
    assert "virtual answers were dropped" in page and "halves of <b>6</b>" in page
    assert "Backstories and the critic" in page and "coherence ≥ -3" in page
    critic = pd.read_csv(out / "tables" / "critic.csv")
    assert (critic["coherence"] == -2.0).all()  # the scripted model's score, recorded
    assert (out / "plots" / "critic.png").exists()
    assert pd.read_csv(out / "tables" / "dropped.csv").columns.tolist() == [
        "method",
        "item",
        "dropped",
        "of",
    ]


def test_the_first_interview_answer_is_judged_as_an_interview_answer():
    from silico.pipeline.stages import critic_verdict

    # The opening answer of an interview need not carry a life fact yet; the
    # same text as a whole single-turn backstory must.
    text = (
        "Let's explore a narrative that begins in the early years of my life, where I've "
        "been blessed with experiences that shaped who I am today and what I value most."
    )
    assert critic_verdict(None, text, (), interview=True).accepted
    assert critic_verdict(None, text).reason == "no_life_fact"


def test_a_spec_in_the_older_words_still_parses_and_its_own_settings_win():
    # `answers` was the survey section's name and `mode` its estimator's.
    raw = yaml.safe_load((REPO / "pipelines/studies/tiny.yaml").read_text())
    raw["answers"] = {**raw.pop("survey"), "mode": "sampled", "max_attempts": 9}
    spec = parse_spec(raw, REPO / "pipelines/studies")
    assert spec.survey.estimator == "sampled" and spec.survey.max_attempts == 9
    raw["procedure"] = "anthology-2024"
    raw["answers"]["mode"] = "logprob"
    spec = parse_spec(raw, REPO / "pipelines/studies")
    assert spec.survey.estimator == "logprob" and spec.survey.max_attempts == 9


def test_a_report_never_replaces_a_folder_of_the_users_own(tmp_path):
    """--out . or a folder holding a user's file is refused before any work and kept
    whole; a report folder Silico wrote (marker, or an older one without it) is replaced."""
    import subprocess
    import sys

    from silico.files import MARKER, NotOursError
    from silico.report import write_report

    raw = yaml.safe_load((REPO / "pipelines/studies/tiny.yaml").read_text())
    raw.pop("higher_order")
    result = run_study(parse_spec(raw, REPO / "pipelines/studies"), ScriptedLM())
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my thesis")
    with pytest.raises(NotOursError, match="did not write"):
        write_report(result, mine)
    assert (mine / "notes.txt").read_text() == "my thesis" and len(list(mine.iterdir())) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mine.")]  # no leftovers
    rep = write_report(result, tmp_path / "rep").path
    assert (rep / MARKER).is_file()
    write_report(result, rep)  # Silico's own: replaced
    old = tmp_path / "old"  # a report of an older Silico: no marker, only report names
    old.mkdir()
    (old / "report.html").write_text("<html></html>")
    (old / "tables").mkdir()
    assert (write_report(result, old).path / "metrics.json").is_file()
    # The CLI refuses at once, in one line, before starting any model.
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "silico.cli",
            "run",
            str(REPO / "pipelines/studies/tiny.yaml"),
            "--in-process",
            "--out",
            str(mine),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0 and "did not write" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (mine / "notes.txt").read_text() == "my thesis"
