"""A study's own trait categories (``data.traits[].categories``): validated with the
field named, asked of the personas as declared, carried with each demographics unit,
and used by matching, baselines, subgroups and the report on both drivers."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import yaml

from silico.core.data import PROFILES
from silico.core.errors import ValidationError
from silico.pipeline.runner import load_humans, run_study
from silico.pipeline.spec import StudySpec, load_spec, parse_spec
from silico.pipeline.stages import Backstory
from silico.pipeline.units import baseline_contexts, plan_demographics
from silico.pipeline.work import Models, demographics, do_unit
from silico.platform.orchestrator import Orchestrator
from silico.report import headline
from silico.store import Store
from silico.v1 import common_pb2, demographics_pb2
from tests.scripted import ScriptedLM
from tests.unit.test_one_pipeline import STUDIES, _pump, _Recorder, assert_same_headline

UNION_Q = "Are you a member of a labor union?"
UNION = {
    "trait": "union",
    "column": "union",
    "question": UNION_Q,
    "categories": ["Yes, currently", "Yes, formerly", "No, never"],
    "first_person": [
        "I am a union member.",
        "I used to be in a union.",
        "I have never been in a union.",
    ],
    "second_person": [
        "You are a union member.",
        "You used to be in a union.",
        "You have never been in a union.",
    ],
    "values": {"1": "Yes, currently", "2": "Yes, formerly", "3": "No, never", "9": None},
}
#: Another study's "union": same name and column, other question and categories.
TRADE_Q = "Do you belong to a trade union?"
TRADE = {
    "trait": "union",
    "column": "union",
    "question": TRADE_Q,
    "categories": ["Member", "Not a member"],
    "first_person": ["I belong to a trade union.", "I do not belong to a trade union."],
    "second_person": ["You belong to a trade union.", "You do not belong to a trade union."],
    "values": {"1": "Member", "2": "Not a member", "3": "Not a member"},
}
CUSTOM = len(PROFILES["cces_2018"])  # the index of the custom entry in data.traits


def _raw(custom: dict[str, Any] | None = UNION, **over: Any) -> dict[str, Any]:
    """tiny.yaml with its profile written out as trait columns, plus ``custom``."""
    raw = load_spec(STUDIES / "tiny.yaml").model_dump(mode="json")
    cols = [
        {"trait": t.trait, "column": t.column, "scheme": t.scheme, "values": t.values}
        for t in PROFILES["cces_2018"]
    ]
    raw["data"].update(profile=None, traits=[*cols, *([copy.deepcopy(custom)] if custom else [])])
    if custom:
        raw["demographics"]["traits"] = ["age", "gender", "race", "party", custom["trait"]]
        raw["evaluation"]["subgroups"] = ["party", custom["trait"]]
    raw["conditioning"] = ["anthology", "qa", "bio", "portray"]
    raw["higher_order"] = None  # it needs the catalogue party only; tests/unit/test_one_pipeline
    raw.update(over)
    return raw


def _spec(custom: dict[str, Any] | None = UNION, **over: Any) -> StudySpec:
    return parse_spec(_raw(custom, **over))


def _bad(field: str, change: Any) -> ValidationError:
    raw = _raw()
    change(raw["data"]["traits"][CUSTOM])
    with pytest.raises(ValidationError) as e:
        parse_spec(raw)
    assert e.value.field == field, e.value
    return e.value


def _personas(n: int = 3) -> list[Backstory]:
    return [Backstory(f"p{k}", f"I am persona {k}.", k, 9, 1, True) for k in range(n)]


# -- the spec -----------------------------------------------------------------------


def test_a_custom_trait_loads_with_its_categories_as_the_surveys():
    spec = _spec()
    humans = load_humans(spec)
    s = humans.schemes["union"]
    assert s.categories == tuple(UNION["categories"])
    assert np.array_equal(s.matrix, np.eye(3))  # each fine category is its survey category
    assert s.fine_trait.question == UNION_Q
    labels = set(humans.trait_labels("union")) - {None}
    assert labels and labels <= set(UNION["categories"])
    assert spec.traits()[-1] == "union"
    # The spec round-trips as the orchestrator stores it.
    again = StudySpec.model_validate(yaml.safe_load(yaml.safe_dump(spec.model_dump(mode="json"))))
    assert again.data.trait_columns() == spec.data.trait_columns()


def test_a_mapped_value_outside_the_categories_fails_naming_the_field_and_value():
    e = _bad("data.traits[9].values", lambda t: t["values"].update({"4": "Sometimes"}))
    assert "'4'" in e.message and "'Sometimes'" in e.message


@pytest.mark.parametrize(
    ("values", "raw"),
    [
        ({"1": "Yes, currently", "2": "Yes, formerly"}, "'3'"),  # a data value not mapped
        (None, "'3'"),  # no map: the raw codes are not the labels
    ],
)
def test_a_data_value_without_a_category_fails_naming_the_field_and_value(values, raw):
    spec = _spec({**UNION, "values": values})
    with pytest.raises(ValidationError) as e:
        load_humans(spec)
    assert e.value.field == f"data.traits[{CUSTOM}].values"
    assert raw in e.value.message and "union" in e.value.message


@pytest.mark.parametrize(
    ("field", "change", "words"),
    [
        ("categories", lambda t: t.update(categories=["Yes", " yes"]), "repeats"),
        ("categories", lambda t: t.update(categories=["Yes"]), "at least 2"),
        ("categories", lambda t: t.update(categories=["A", "Prefer not to answer"]), "null"),
        ("first_person", lambda t: t.update(first_person=["I am."]), "one sentence per"),
        ("second_person", lambda t: t.pop("second_person"), "needed"),
        ("question", lambda t: t.pop("question"), "needed"),
        ("question", lambda t: t.update(question="  "), "needed"),
    ],
)
def test_a_definition_breaking_a_rule_names_its_field(field, change, words):
    e = _bad(f"data.traits[{CUSTOM}].{field}", change)
    assert words in e.message


def test_scheme_and_categories_exclude_each_other():
    e = _bad(f"data.traits[{CUSTOM}]", lambda t: t.update(scheme="party4"))
    assert "either" in e.message
    e = _bad(f"data.traits[{CUSTOM}].question", lambda t: t.pop("categories"))
    assert "only with" in e.message
    raw = _raw(None)
    raw["data"]["traits"][0]["trait"] = "union"  # a new name needs its own categories
    with pytest.raises(ValidationError, match="unknown trait 'union'"):
        parse_spec(raw)
    raw = _raw(None)
    raw["data"]["traits"][0]["scheme"] = "party4"  # the age column with party's scheme
    with pytest.raises(ValidationError, match="is for trait 'party'"):
        parse_spec(raw)


def test_a_catalogue_name_with_its_own_categories_stands_for_it_in_that_study_only():
    """The documented rule: a catalogue name with `categories` replaces the catalogue's
    categories, question and sentences in this study; nothing else sees it."""
    own = {
        "trait": "religion",
        "column": "religpew",
        "question": "Are you Protestant?",
        "categories": ["Protestant", "Not Protestant"],
        "first_person": ["I am Protestant.", "I am not Protestant."],
        "second_person": ["You are Protestant.", "You are not Protestant."],
        "values": {str(c): "Protestant" if c == 1 else "Not Protestant" for c in range(1, 13)},
    }
    raw = _raw(None)
    raw["data"]["traits"] = [t for t in raw["data"]["traits"] if t["trait"] != "religion"]
    raw["data"]["traits"].append(own)
    raw["demographics"]["traits"] = ["party", "religion"]
    spec = parse_spec(raw)
    lm = ScriptedLM()
    unit = plan_demographics(spec, _personas(1))[0]
    r = do_unit("demographics", Models(lm), unit.request)
    assert [len(t.probs) for t in r.traits] == [5, 3]
    assert any("Are you Protestant?" in p for p in lm.prompts)
    assert not any("What is your present religion" in p for p in lm.prompts)
    humans = load_humans(spec)
    assert humans.schemes["religion"].categories == ("Protestant", "Not Protestant")
    # The catalogue itself is untouched: another study still asks its question.
    lm2 = ScriptedLM()
    demographics(Models(lm2), demographics_pb2.AnnotateRequest(backstory="I.", traits=["religion"]))
    assert any("What is your present religion" in p for p in lm2.prompts)


def test_the_higher_order_follow_up_refuses_a_party_of_the_studys_own():
    own = {
        "trait": "party",
        "column": "pid3",
        "question": "Which party?",
        "categories": ["Dem", "Rep", "Other"],
        "first_person": ["I am a Dem.", "I am a Rep.", "I am other."],
        "second_person": ["You are a Dem.", "You are a Rep.", "You are other."],
        "values": {"1": "Dem", "2": "Rep", "3": "Other", "4": "Other", "5": "Other"},
    }
    raw = _raw(None)
    raw["data"]["traits"] = [t for t in raw["data"]["traits"] if t["trait"] != "party"]
    raw["data"]["traits"].append(own)
    raw["higher_order"] = load_spec(STUDIES / "tiny.yaml").model_dump(mode="json")["higher_order"]
    # Refused when the spec is read, before any backstory is written.
    with pytest.raises(ValidationError, match="catalogue 'party'"):
        parse_spec(raw)


# -- the demographics unit ---------------------------------------------------------


def test_personas_are_asked_the_custom_question_with_its_options():
    spec = _spec()
    units = plan_demographics(spec, _personas())
    assert [d.name for d in units[0].request.definitions] == ["union"]
    lm = ScriptedLM()
    for u in units:
        r = do_unit("demographics", Models(lm), u.request)
        got = {t.trait: t for t in r.traits}
        assert len(got["union"].probs) == 4  # 3 categories + "Prefer not to answer"
    asked = [p for p in lm.prompts if UNION_Q in p]
    assert len(asked) == 3 * len(spec.demographics.orders)
    block = "(A) Yes, currently\n(B) Yes, formerly\n(C) No, never\n(D) Prefer not to answer"
    assert any(block in p for p in asked)


def _definition(**over: Any) -> common_pb2.TraitDefinition:
    d = {k: UNION[k] for k in ("trait", "question", "categories", "first_person", "second_person")}
    d["name"] = d.pop("trait")
    return common_pb2.TraitDefinition(**{**d, **over})


@pytest.mark.parametrize(
    ("traits", "defs", "field"),
    [
        (["union"], [], "definitions"),
        (["age", "union"], [], "definitions"),
        (["union"], [_definition(categories=["Yes"])], "definitions[0].categories"),
        (["union"], [_definition(second_person=["x"])], "definitions[0].second_person"),
        (["union"], [_definition(question="")], "definitions[0].question"),
        (["union"], [_definition(name="9lives")], "definitions[0].name"),
        (["age"], [_definition()], "definitions[0].name"),
        (["union"], [_definition(), _definition()], "definitions[1].name"),
    ],
)
def test_the_worker_takes_a_custom_trait_only_with_its_definition(traits, defs, field):
    req = demographics_pb2.AnnotateRequest(backstory="I am 30.", traits=traits, definitions=defs)
    with pytest.raises(ValidationError) as e:
        demographics(Models(ScriptedLM()), req)
    assert e.value.field == field


# -- the baselines -------------------------------------------------------------------


def test_baseline_contexts_hold_the_declared_sentences():
    spec = _spec()
    humans = load_humans(spec)
    labels = humans.trait_labels("union")
    cats = UNION["categories"]
    ctx = {m: baseline_contexts(spec, humans, m) for m in ("qa", "bio", "portray")}
    for h, label in enumerate(labels):
        if label is None:
            assert not any(s in ctx["bio"][h] for s in UNION["first_person"])
            continue
        c = cats.index(label)
        assert UNION["first_person"][c] in ctx["bio"][h]
        assert UNION["second_person"][c] in ctx["portray"][h]
        assert f"{UNION_Q}\n(A) Yes, currently" in ctx["qa"][h]
        assert f"Answer: ({'ABC'[c]})" in ctx["qa"][h].split(UNION_Q)[1].split("\n\n")[0]


# -- both drivers ------------------------------------------------------------------


def test_a_study_with_a_custom_trait_runs_the_same_on_both_drivers(tmp_path):
    spec = _spec()
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    orch = Orchestrator(store, _Recorder(), reports_dir=tmp_path / "reports")
    st = store.create_study(spec.name, yaml.safe_dump(spec.model_dump(mode="json")))
    _pump(orch, store, ScriptedLM(), st.id)
    assert store.get_study(st.id).state == "succeeded", store.get_study(st.id).error
    doc = store.get_result(st.id, "metrics", "report")
    lm = ScriptedLM()
    local = run_study(spec, lm)
    assert any(UNION_Q in p for p in lm.prompts)
    assert {r["method"] for r in doc["headline"]} >= {"anthology", "qa", "bio", "portray"}
    assert_same_headline(doc, local)
    # The trait is matched on, fitted and split by like a catalogue trait.
    assert local.persona_traits["union"].shape[1] == 4
    for method in local.matchings:
        assert local.diagnostics[method].traits["union"].human.shape == (3,)
    assert "union" in local.subgroups
    assert (tmp_path / "reports" / st.id / "report.html").is_file()


def test_two_studies_defining_the_same_name_differently_do_not_interfere():
    """One worker (one Models) serves both studies' units, interleaved; each unit asks
    its own study's question, and each study's baselines say its own sentences."""
    small = {"conditioning": ["anthology", "bio"], "matching": {"methods": ["greedy"]}}
    a, b = _spec(UNION, **small), _spec(TRADE, seed=8, **small)
    ua, ub = plan_demographics(a, _personas()), plan_demographics(b, _personas())
    lm = ScriptedLM()
    worker = Models(lm)
    for x, y in zip(ua, ub, strict=True):
        for u, q, other, k in ((x, UNION_Q, TRADE_Q, 4), (y, TRADE_Q, UNION_Q, 3)):
            before = len(lm.prompts)
            r = do_unit("demographics", worker, u.request)
            mine = lm.prompts[before:]
            assert any(q in p for p in mine) and not any(other in p for p in mine)
            assert len({t.trait: t for t in r.traits}["union"].probs) == k
    ha, hb = load_humans(a), load_humans(b)
    assert hb.schemes["union"].categories == ("Member", "Not a member")
    bio_a, bio_b = baseline_contexts(a, ha, "bio"), baseline_contexts(b, hb, "bio")
    assert any("I have never been in a union." in c for c in bio_a)
    assert not any("trade union" in c for c in bio_a)
    assert any("I do not belong to a trade union." in c for c in bio_b)
    assert not any("been in a union" in c for c in bio_b)
    # A whole study in between leaves the other's results as they were.
    first = headline(run_study(a, ScriptedLM()))
    run_study(b, ScriptedLM())
    again = headline(run_study(a, ScriptedLM()))
    assert np.allclose(first["wd"].to_numpy(float), again["wd"].to_numpy(float), equal_nan=True)
