"""Higher-order (partisan perception) items: variants, gaps, effect sizes, orientation,
human rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from silico.core.data import load_survey
from silico.core.errors import ValidationError
from silico.core.matching import Matching
from silico.core.prompts import HigherOrderTemplate, make_variants
from silico.core.stats import (
    answer_distribution,
    cohens_d,
    paired_cohens_d,
    party_gaps,
    wasserstein_ordinal,
)
from silico.core.traits import CATALOGUE
from silico.pipeline import higher_order as ho
from silico.pipeline.spec import HigherOrderSpec, parse_spec

REPO = Path(__file__).resolve().parents[2]
STUDIES = REPO / "pipelines" / "studies"
PARTY_OPTIONS = CATALOGUE["party"].options

VIOLENCE = (
    "Would you support using violence to block major laws proposed by {target}?",
    "Would {group} support using violence to block major {target_member} laws?",
)


# --- planted answer distributions ------------------------------------------------

#: A wide answer distribution: uniform over five neighbouring positions (variance 2).
BASE = np.full(5, 0.2)


def shifted(shift: int, k: int = 7) -> np.ndarray:
    """BASE placed at positions 1+shift .. 5+shift of a K-point scale."""
    p = np.zeros(k)
    p[shift : shift + 5] = BASE
    return p


def expectations(dists: np.ndarray) -> np.ndarray:
    return dists @ np.arange(1, dists.shape[1] + 1)


def draws(dists: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n simulated answers (positions) from each distribution, shape (personas, n)."""
    k = dists.shape[1]
    return np.stack([rng.choice(np.arange(1, k + 1), size=n, p=p) for p in dists])


# --- 1. Cohen's d on answers ------------------------------------------------------


def test_independent_d_is_on_answers_not_expectations():
    # Every persona has the same wide distribution, only shifted: x personas sit
    # one position above y personas on average, so the gap is exactly 1.
    x = np.stack([shifted(1 + i % 2) for i in range(20)])
    y = np.stack([shifted(i % 2) for i in range(20)])
    assert expectations(x).mean() - expectations(y).mean() == pytest.approx(1.0)

    d = cohens_d(x, y)
    # By hand: the answers' variance is the expectations' variance (n-1
    # convention) plus the within-persona variance 2.
    s2 = np.var(expectations(x), ddof=1) + 2.0
    assert d == pytest.approx(1.0 / np.sqrt(s2), abs=1e-12)
    # The same from simulated answers.
    rng = np.random.default_rng(11)
    simulated = cohens_d(draws(x, 4000, rng).ravel(), draws(y, 4000, rng).ravel())
    assert d == pytest.approx(simulated, abs=0.02)
    # The old number (d on expectations) is about three times larger.
    on_expectations = cohens_d(expectations(x), expectations(y))
    assert on_expectations > 2.5 * d


def test_paired_d_is_on_answer_differences():
    # The same persona rates two targets; its two answers are independent draws.
    rng = np.random.default_rng(5)
    sx, sy = rng.integers(1, 3, size=30), rng.integers(0, 2, size=30)
    x = np.stack([shifted(int(s)) for s in sx])
    y = np.stack([shifted(int(s)) for s in sy])
    diff = expectations(x) - expectations(y)
    d = paired_cohens_d(x, y)
    # By hand: var(x - y) = var over personas of E[x] - E[y] + mean(var_x + var_y).
    assert d == pytest.approx(diff.mean() / np.sqrt(np.var(diff, ddof=1) + 4.0), abs=1e-12)
    sim = draws(x, 4000, rng) - draws(y, 4000, rng)
    assert d == pytest.approx(sim.mean() / sim.std(ddof=1), abs=0.02)
    assert paired_cohens_d(expectations(x), expectations(y)) > 2 * d


def test_humans_are_one_hot_distributions():
    h = np.array([1, 3, 4, 2, 5.0])
    one_hot = np.eye(5)[h.astype(int) - 1]
    other = np.array([2, 2, 1, 1, 3.0])
    assert cohens_d(one_hot, np.eye(5)[other.astype(int) - 1]) == pytest.approx(cohens_d(h, other))
    diff = h - other
    assert paired_cohens_d(h, other) == pytest.approx(diff.mean() / diff.std(ddof=1))


# --- 2. variants read as the talk ----------------------------------------------------


def test_variants_of_a_behaviour_item_read_as_the_talk():
    t = HigherOrderTemplate("violence", *VIOLENCE, ("Never", "Definitely"), kind="behaviour")
    dem = {v.perspective: v.item.question for v in make_variants(t, "Democrats")}
    assert dem == {
        "self": "Would you support using violence to block major laws proposed by Republicans?",
        "ingroup": "Would Democrats support using violence to block major Republican laws?",
        "outgroup": "Would Republicans support using violence to block major Democrat laws?",
        "meta": 'How would an average Republican respond to the following? "Would Democrats '
        'support using violence to block major Republican laws?"',
    }
    rep = {v.perspective: v.item.question for v in make_variants(t, "Republicans")}
    assert (
        rep["ingroup"] == "Would Republicans support using violence to block major Democrat laws?"
    )
    assert rep["meta"].startswith("How would an average Democrat respond")
    assert rep["meta"].endswith(
        '"Would Republicans support using violence to block major Democrat laws?"'
    )


def test_variants_of_a_rating_item_ask_own_party_and_quote_the_self_question():
    t = HigherOrderTemplate(
        "moral",
        "Compared to other Americans, would you say {target} are...",
        "Compared to other Americans, would {group} say {target} are...",
        ("A lot more moral", "A lot more immoral"),
    )
    vs = {v.perspective: v for v in make_variants(t, "Democrats", members=("Dem", "Rep"))}
    assert list(vs) == ["self", "own", "ingroup", "outgroup", "meta"]
    assert vs["self"].item.question.endswith("would you say Republicans are...")
    assert vs["own"].item.question.endswith("would you say Democrats are...")
    assert vs["own"].target_party == "Democrats"
    assert vs["ingroup"].item.question.endswith("would Democrats say Republicans are...")
    assert vs["outgroup"].item.question.endswith("would Republicans say Democrats are...")
    # What the out-group member would be asked about the respondent's party.
    assert vs["meta"].item.question == (
        'How would an average Rep respond to the following? "Compared to other Americans, '
        'would you say Democrats are..."'
    )
    assert len({v.item.id for v in vs.values()}) == 5
    # meta_stem overrides the wording: {group} = the other party, {target} = one's own.
    o = HigherOrderTemplate(
        "warm",
        "How warm do you feel towards {target}?",
        "How warm do {group} feel towards {target}?",
        ("Cold", "Warm"),
        meta_stem="How warm do you think {group} feel towards {target}?",
    )
    meta = {v.perspective: v for v in make_variants(o, "Republicans")}["meta"]
    assert meta.item.question == "How warm do you think Democrats feel towards Republicans?"


def test_stems_are_checked():
    with pytest.raises(ValidationError, match="must contain"):
        HigherOrderTemplate("x", "no target", "{group} {target}", ("a", "b"))
    with pytest.raises(ValidationError, match="must contain"):
        HigherOrderTemplate("x", "{target}", "{target} only", ("a", "b"))
    with pytest.raises(ValidationError, match="unknown placeholder"):
        HigherOrderTemplate("x", "{target} {party}", "{group} {target}", ("a", "b"))


# --- gaps: which answers each contrasts ------------------------------------------------


def test_party_gaps_contrast_the_talks_perspectives():
    # Democrats (rows 0-2) and Republicans (rows 3-5); 5 = most negative.
    r = {
        "self": np.array([5.0, 4, 4, 3, 4, 5]),  # own rating of the out-party
        "own": np.array([1.0, 2, 1, 2, 1, 1]),  # own rating of own party
        "meta": np.array([5.0, 5, 4, 4, 5, 5]),  # what the out-party would answer about them
        "outgroup": np.array([3.0, 4, 4, 2, 2, 1]),  # would the out-party act against them
    }
    w = np.array([1.0, 1, 2, 1, 1, 2])
    party = ["D", "D", "D", "R", "R", "R"]
    rows = {
        (x["party"], x["gap"]): x for x in party_gaps(r, party, ("D", "R"), w, n_boot=300, seed=3)
    }

    def wm(a, ww):
        return float(np.sum(a * ww) / np.sum(ww))

    d, rr = slice(0, 3), slice(3, 6)
    # Hostility of D: D's rating of R minus D's rating of D; paired d_z.
    host = rows[("D", "hostility")]
    assert host["value"] == pytest.approx(wm(r["self"][d], w[d]) - wm(r["own"][d], w[d]))
    diff = r["self"][d] - r["own"][d]
    sd = np.sqrt(np.sum(w[d] * (diff - wm(diff, w[d])) ** 2) / w[d].sum() * 3 / 2)
    assert host["paired"] and host["d"] == pytest.approx(wm(diff, w[d]) / sd)
    # Meta-perception of D: what D thinks R would answer about D minus R's actual answers.
    assert rows[("D", "meta_perception")]["value"] == pytest.approx(
        wm(r["meta"][d], w[d]) - wm(r["self"][rr], w[rr])
    )
    # Subversion of R: how D sees R's willingness (D's out-group answers) minus
    # R's own willingness (R's self answers).
    sub = rows[("R", "subversion")]
    assert sub["value"] == pytest.approx(wm(r["outgroup"][d], w[d]) - wm(r["self"][rr], w[rr]))
    assert sub["d"] == pytest.approx(cohens_d(r["outgroup"][d], r["self"][rr], w[d], w[rr]))
    for row in rows.values():
        assert row["value_low"] <= row["value"] + 1e-9 <= row["value_high"] + 2e-9
    # Respondents of neither party are left out; a party with no one gives NaN, not an error.
    rows2 = party_gaps(r, ["D", "D", "D", "I", "I", "I"], ("D", "R"), n_boot=0)
    assert np.isnan([x["value"] for x in rows2 if x["party"] == "R"]).all()
    # Only the perspectives of the requested gaps are needed.
    only = party_gaps(
        {"self": r["self"], "own": r["own"]}, party, ("D", "R"), n_boot=0, kinds=["hostility"]
    )
    assert {x["gap"] for x in only} == {"hostility"}
    with pytest.raises(ValidationError, match="outgroup"):
        party_gaps({"self": r["self"]}, party, ("D", "R"), n_boot=0, kinds=["subversion"])


def test_bootstrap_resamples_personas_not_answers():
    # Ten personas per party with wide distributions: the interval of d reflects
    # ten clusters (wide), not ten personas times their answer spread.
    rng = np.random.default_rng(2)
    own = np.stack([shifted(int(s)) for s in rng.integers(0, 2, 20)])
    other = np.stack([shifted(int(s)) for s in rng.integers(1, 3, 20)])
    party = ["D"] * 10 + ["R"] * 10
    rows = party_gaps(
        {"self": other, "own": own}, party, ("D", "R"), n_boot=400, seed=1, kinds=["hostility"]
    )
    for row in rows:
        assert row["d_low"] < row["d"] < row["d_high"]
        assert row["n_x"] == row["n_y"] == 10


# --- pipeline: units, gap table ------------------------------------------------------


def _spec(options, negative_end, kind="rating", bootstrap=50, **item) -> HigherOrderSpec:
    return HigherOrderSpec.model_validate(
        {
            "bootstrap": bootstrap,
            "items": [
                {
                    "id": "it",
                    "kind": kind,
                    "self_stem": VIOLENCE[0],
                    "group_stem": VIOLENCE[1],
                    "options": options,
                    "negative_end": negative_end,
                    **item,
                }
            ],
        }
    )


def _party_probs(parties):
    out = np.zeros((len(parties), len(PARTY_OPTIONS)))
    for i, p in enumerate(parties):
        out[i, PARTY_OPTIONS.index(p)] = 1.0
    return out


def _answers(units, planted):
    """answers[persona] in unit item order, from planted[(group, perspective)](i)."""
    return {
        u.persona: [planted[(u.group, persp)](u.persona).tolist() for _, persp in u.perspectives]
        for u in units
    }


PERSONA_PARTIES = ["Democrat", "Republican", "Independent"] * 8


def _planted(k=7):
    """Personas rate the other party 1.5 positions more negatively than their own
    (spread over personas), believe the other party sees them worse still, and
    see the other party as more willing to act against them than it says it is."""
    shift = {"self": 1, "own": 0, "ingroup": 0, "outgroup": 2, "meta": 2}
    varies = {"self"}
    return {
        (g, p): (lambda i, s=s, v=p in varies: shifted(s + (i % 2 if v else 0), k))
        for g in ("Democrats", "Republicans")
        for p, s in shift.items()
    }


def test_gap_table_d_is_on_answers():
    spec = _spec([str(i) for i in range(1, 8)], "last", bootstrap=0)
    units = ho.units(spec, _party_probs(PERSONA_PARTIES))
    assert len(units) == 16 and all(len(u.items) == 5 for u in units)
    table = ho.gap_table(spec, units, _answers(units, _planted()), seed=0)
    host = {r["party"]: r for r in table["gaps"] if r["gap"] == "hostility"}
    self_ = np.stack([shifted(1 + u.persona % 2) for u in units if u.group == "Democrats"])
    own = np.stack([shifted(0) for u in units if u.group == "Democrats"])
    assert host["Democrats"]["value"] == pytest.approx(1.5)
    assert host["Democrats"]["d"] == pytest.approx(paired_cohens_d(self_, own), abs=1e-12)
    # What the old code reported: d on each persona's expected rating.
    assert cohens_d(expectations(self_), expectations(own)) > 2.5 * host["Democrats"]["d"]
    assert all(r["source"] == "virtual" for r in table["gaps"])


def test_gap_direction_does_not_depend_on_option_order():
    opts = ["Never", "Rarely", "Sometimes", "Often", "Mostly", "Usually", "Always"]
    parties = _party_probs(PERSONA_PARTIES)
    tables = []
    for options, end, flip in ((opts, "last", False), (opts[::-1], "first", True)):
        for kind in ("rating", "behaviour"):
            spec = _spec(options, end, kind=kind)
            units = ho.units(spec, parties)
            answers = _answers(units, _planted())
            if flip:  # the same answers, to options typed the other way round
                answers = {k: [a[::-1] for a in v] for k, v in answers.items()}
            tables.append(ho.gap_table(spec, units, answers, seed=4))
    for a, b in ((tables[0], tables[2]), (tables[1], tables[3])):
        assert json.dumps(a["gaps"], sort_keys=True) == json.dumps(b["gaps"], sort_keys=True)
        assert json.dumps(a["means"], sort_keys=True) == json.dumps(b["means"], sort_keys=True)
    rating = {(r["party"], r["gap"]): r["value"] for r in tables[0]["gaps"]}
    assert rating[("Democrats", "hostility")] == pytest.approx(1.5)
    assert rating[("Democrats", "meta_perception")] == pytest.approx(0.5)
    behaviour = {(r["party"], r["gap"]): r["value"] for r in tables[1]["gaps"]}
    assert set(behaviour) == {("Democrats", "subversion"), ("Republicans", "subversion")}
    assert behaviour[("Republicans", "subversion")] == pytest.approx(0.5)


def test_matched_personas_count_with_their_humans_weights():
    spec = _spec([str(i) for i in range(1, 8)], "last", bootstrap=0)
    units = ho.units(spec, _party_probs(PERSONA_PARTIES))
    answers = _answers(units, _planted())
    # Persona 0 (a Democrat) rates the Republicans far worse than anyone else.
    answers[0][0] = shifted(2).tolist()
    dems = [u.persona for u in units if u.group == "Democrats"]
    weights = ho.matched_weights(np.array([0, 0, 3, 6, 1]), np.array([1.0, 2, 1, 1, 5]))
    assert weights == {0: 3.0, 3: 1.0, 6: 1.0, 1: 5.0}
    table = ho.gap_table(spec, units, answers, seed=0, persona_weights=weights)
    mean_self = {m["party"]: m for m in table["means"] if m["source"] == "virtual"}
    exp_self = {p: expectations(np.array([answers[p][0]]))[0] for p in dems}
    # Only personas 0, 3 and 6 among the Democrats count, 0 three times over.
    assert mean_self["Democrats"]["self"] == pytest.approx(
        (3 * exp_self[0] + exp_self[3] + exp_self[6]) / 5
    )
    assert mean_self["Democrats"]["n"] == 3 and table["n_weighted_personas"] == 4


# --- 3. negative_end in the spec ---------------------------------------------------------


def _base() -> dict:
    return yaml.safe_load((STUDIES / "tiny.yaml").read_text())


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (lambda it: it.pop("negative_end"), "higher_order.items[0].negative_end", "required"),
        (
            lambda it: it.update(negative_end="middle"),
            "higher_order.items[0].negative_end",
            "'first' or 'last'",
        ),
        (
            lambda it: it.update(human={"ratings": {"Democrats": "a"}, "negative_end": "last"}),
            "higher_order",
            "must name each of",
        ),
        (
            lambda it: it.update(human={"negative_end": "last"}),
            "higher_order.items[0].human",
            "give",
        ),
        (
            lambda it: it.update(human={"perspectives": {"self": "a"}}),
            "higher_order.items[0].human.negative_end",
            "required",
        ),
        (
            lambda it: it.update(human={"perspectives": {"mood": "a"}, "negative_end": "last"}),
            "higher_order.items[0].human.perspectives.mood.[key]",
            "Input should be",
        ),
        (
            lambda it: it.update(group_stem="{group} {target} {oops}"),
            "higher_order",
            "unknown placeholder",
        ),
    ],
)
def test_higher_order_spec_errors_name_the_field(mutate, field, message):
    d = _base()
    mutate(d["higher_order"]["items"][0])
    with pytest.raises(ValidationError) as e:
        parse_spec(d)
    assert e.value.field == field
    assert message in e.value.message


def test_shipped_higher_order_studies_validate_and_meta_stem_is_optional():
    for name in ("tiny.yaml", "partisan_perceptions.yaml"):
        raw = yaml.safe_load((STUDIES / name).read_text())
        spec = parse_spec(raw)
        assert all(it.negative_end in ("first", "last") for it in spec.higher_order.items)
    d = _base()
    d["higher_order"]["items"][0].pop("meta_stem")
    spec = parse_spec(d).higher_order
    assert spec.items[0].meta_stem is None
    assert spec.member_names() == ["Democrat", "Republican"]
    d["higher_order"]["members"] = ["Dem", "GOP"]
    assert parse_spec(d).higher_order.member_names() == ["Dem", "GOP"]


# --- 4. human rows -------------------------------------------------------------------------


def test_human_rows_wd_and_sign():
    spec = _spec([str(i) for i in range(1, 8)], "last", bootstrap=20)
    units = ho.units(spec, _party_probs(PERSONA_PARTIES))
    table_virtual = _answers(units, _planted())
    # Humans: Democrats rate Republicans worse than their own party (like the
    # personas); Republicans rate the Democrats *better* (the personas get that
    # sign wrong).
    party = np.array(["Democrats"] * 4 + ["Republicans"] * 4 + [None], dtype=object)
    self_ = np.array([6, 5, 7, 6, 2, 1, 2, 3, 4.0])
    own = np.array([2, 2, 3, 1, 4, 4, 5, 3, 4.0])
    weights = np.array([1, 1, 2, 1, 1, 3, 1, 1, 1.0])
    humans = ho.HumanAnswers(party, weights, {"it": {"self": self_, "own": own}})
    table = ho.gap_table(spec, units, table_virtual, seed=0, humans=humans)
    rows = {(r["source"], r["party"], r["gap"]): r for r in table["gaps"]}
    h = rows[("human", "Democrats", "hostility")]
    dm = slice(0, 4)
    assert h["value"] == pytest.approx(
        np.average(self_[dm], weights=weights[dm]) - np.average(own[dm], weights=weights[dm])
    )
    assert h["d"] == pytest.approx(paired_cohens_d(self_[dm], own[dm], weights[dm]))
    assert rows[("virtual", "Democrats", "hostility")]["same_sign"] is True
    assert rows[("virtual", "Republicans", "hostility")]["same_sign"] is False
    # No human meta answers: the human meta-perception gap is NaN and not compared.
    assert np.isnan(rows[("human", "Democrats", "meta_perception")]["value"])
    assert rows[("virtual", "Democrats", "meta_perception")]["same_sign"] is None
    # WD per party and perspective between the human and virtual answer distributions.
    wd = {(r["party"], r["perspective"]): r for r in table["wd"]}
    assert set(wd) == {(p, q) for p in ("Democrats", "Republicans") for q in ("self", "own")}
    rm = slice(4, 8)
    v_self = np.stack([table_virtual[u.persona][0] for u in units if u.group == "Republicans"])
    expected = wasserstein_ordinal(
        answer_distribution(self_[rm], weights[rm], 7), answer_distribution(v_self, k=7)
    )
    assert wd[("Republicans", "self")]["wd"] == pytest.approx(expected)
    assert wd[("Republicans", "self")]["n_human"] == 4
    human_means = [m for m in table["means"] if m["source"] == "human"]
    assert {m["party"] for m in human_means} == {"Democrats", "Republicans"}


def _write_study(tmp_path, codes_dem, codes_rep, human):
    """A small CSV + codebook where pid3 1/2 = Democrat/Republican and two
    5-point party ratings coded 1 = most negative (so negative_end: first)."""
    n = len(codes_dem)
    rng = np.random.default_rng(0)
    rows = ["case_id,pid3,w,q1,rate_dem,rate_rep,three"]
    pids = [1, 1, 1, 2, 2, 2, 3, 1][:n]
    ws = [1.0, 2.0, 1.0, 1.0, 1.0, 3.0, 1.0, 1.0][:n]
    for i in range(n):
        rows.append(
            f"{100 + i},{pids[i]},{ws[i]},{rng.integers(1, 4)},{codes_dem[i]},{codes_rep[i]},1"
        )
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    five = {str(c): f"c{c}" for c in range(1, 6)}
    cb = {
        "pid3": {"question_label": "party", "value_labels": {"1": "D", "2": "R", "3": "I"}},
        "q1": {
            "question_label": "q",
            "value_labels": {"1": "a", "2": "b", "3": "c"},
            "ordinal_codes_in_order": [1, 2, 3],
        },
        "rate_dem": {
            "question_label": "Dems",
            "value_labels": five,
            "ordinal_codes_in_order": [1, 2, 3, 4, 5],
        },
        "rate_rep": {
            "question_label": "Reps",
            "value_labels": five,
            "ordinal_codes_in_order": [1, 2, 3, 4, 5],
        },
        "three": {
            "question_label": "x",
            "value_labels": {"1": "a", "2": "b", "3": "c"},
            "ordinal_codes_in_order": [1, 2, 3],
        },
    }
    (tmp_path / "cb.json").write_text(json.dumps(cb))
    raw = {
        "name": "t",
        "data": {
            "csv": str(tmp_path / "d.csv"),
            "codebook": str(tmp_path / "cb.json"),
            "traits": [
                {
                    "trait": "party",
                    "column": "pid3",
                    "scheme": "party4",
                    "values": {"1": "Democrat", "2": "Republican", "3": "Independent"},
                }
            ],
            "weight": "w",
            "id_column": "case_id",
        },
        "questionnaire": {"items": ["q1"]},
        "backstories": {"count": 4},
        "matching": {"methods": ["greedy"]},
        "evaluation": {"subgroups": ["party"]},
        "higher_order": {
            "bootstrap": 0,
            "items": [
                {
                    "id": "moral",
                    "self_stem": "Would you say {target} are...",
                    "group_stem": "Would {group} say {target} are...",
                    "options": ["Very moral", "Moral", "Same", "Immoral", "Very immoral"],
                    "negative_end": "last",
                    "human": human,
                }
            ],
        },
    }
    spec = parse_spec(raw)
    d = spec.data
    humans = load_survey(
        d.csv, d.codebook, ["q1"], d.trait_columns(), weight=d.weight, id_column=d.id_column
    )
    return spec, humans


def test_human_answers_from_party_rating_columns(tmp_path):
    # Codes: 1 = very immoral ... 5 = very moral (the reverse of the item's options).
    dem = [5, 4, 5, 1, 2, 1, 3, 4]
    rep = [1, 2, 2, 5, 4, 4, 3, 1]
    human = {
        "ratings": {"Democrats": "rate_dem", "Republicans": "rate_rep"},
        "negative_end": "first",
    }
    spec, humans = _write_study(tmp_path, dem, rep, human)
    # Humans 3..5 are Republicans but sampled in reverse, so alignment is by id.
    humans = type(humans)(
        ids=humans.ids[::-1],
        items=humans.items,
        responses=humans.responses.take(np.arange(humans.n)[::-1]),
        traits={k: v[::-1] for k, v in humans.traits.items()},
        schemes=humans.schemes,
        groups={},
    )
    got = ho.human_answers(spec, humans)
    assert got is not None
    r = got.ratings["moral"]
    order = np.arange(8)[::-1]
    neg_dem, neg_rep = 6 - np.array(dem, float)[order], 6 - np.array(rep, float)[order]
    is_dem = got.party == "Democrats"
    # A Democrat's self answer is their rating of the Republicans, oriented.
    assert np.allclose(r["self"][is_dem], neg_rep[is_dem])
    assert np.allclose(r["own"][is_dem], neg_dem[is_dem])
    assert np.allclose(r["self"][got.party == "Republicans"], neg_dem[got.party == "Republicans"])
    independent = np.array([p is None for p in got.party])
    assert independent.sum() == 1 and np.isnan(r["self"][independent]).all()

    # Study wiring: personas 0 and 1 matched to the humans; a human row appears.
    units = ho.units(spec.higher_order, _party_probs(["Democrat", "Republican", "Democrat"]))
    answers = {
        u.persona: [
            [0, 0, 0.5, 0.5, 0] if persp == "self" else [0.5, 0.5, 0, 0, 0]
            for _, persp in u.perspectives
        ]
        for u in units
    }
    persona = np.array([0 if p == "Democrats" else 1 for p in got.party])
    match = Matching(persona=persona, log_weight=np.zeros(8), method="greedy")
    table = ho.study_gap_table(spec, humans, {"greedy": match}, units, answers, seed=0)
    assert table["n_weighted_personas"] == 2  # persona 2 is matched to no one
    human_host = [r for r in table["gaps"] if r["source"] == "human" and r["gap"] == "hostility"]
    dm = np.flatnonzero(is_dem)
    w = humans.responses.weights
    assert human_host[0]["party"] == "Democrats"
    assert human_host[0]["value"] == pytest.approx(
        np.average(neg_rep[dm], weights=w[dm]) - np.average(neg_dem[dm], weights=w[dm])
    )


def test_human_columns_fail_before_the_survey(tmp_path):
    human = {"perspectives": {"self": "three"}, "negative_end": "last"}
    spec, _ = _write_study(tmp_path, [1] * 8, [1] * 8, human)
    with pytest.raises(ValidationError) as e:
        ho.study_units(spec, _party_probs(["Democrat"]))
    assert e.value.field == "higher_order.items[0].human.perspectives.self"
    assert "3 ordinal codes" in e.value.message
    human = {"perspectives": {"self": "absent"}, "negative_end": "last"}
    spec, _ = _write_study(tmp_path, [1] * 8, [1] * 8, human)
    with pytest.raises(ValidationError, match="'absent' is not in d.csv"):
        ho.study_units(spec, _party_probs(["Democrat"]))


def test_report_shows_human_rows_signs_and_wd():
    from types import SimpleNamespace

    import pandas as pd

    from silico.report._write import _higher_order_html

    spec = _spec([str(i) for i in range(1, 8)], "last", bootstrap=0)
    units = ho.units(spec, _party_probs(PERSONA_PARTIES))
    answers = _answers(units, _planted())
    party = np.array(["Democrats"] * 3 + ["Republicans"] * 3, dtype=object)
    humans = ho.HumanAnswers(
        party, np.ones(6), {"it": {"self": np.array([6, 5, 7, 1, 2, 1.0]), "own": np.full(6, 3.0)}}
    )
    study = SimpleNamespace(
        higher_order=None,
        spec=SimpleNamespace(higher_order=spec, evaluation=SimpleNamespace(level=0.95)),
    )
    for table in (
        ho.gap_table(spec, units, answers, 0),
        ho.gap_table(spec, units, answers, 0, humans=humans),
    ):
        study.higher_order = table
        tables = {
            "higher_order": pd.DataFrame(table["gaps"]),
            "higher_order_means": pd.DataFrame(table["means"]),
            "higher_order_wd": pd.DataFrame(table["wd"]),
        }
        page = _higher_order_html(study, tables)
        if table["wd"]:
            assert page.count("<td>human</td><td>") == 2 and "sign as human" in page
            assert "<b>no</b>" in page  # Republicans: human hostility negative, virtual positive
            assert "Wasserstein distance" in page
        else:
            assert "no human row" in page and "<td>human</td>" not in page
