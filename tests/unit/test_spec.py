"""Study specification: validation errors name the field; the parser never crashes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silico.core.errors import ValidationError
from silico.pipeline.spec import json_schema, load_spec, parse_spec

REPO = Path(__file__).resolve().parents[2]
STUDIES = REPO / "pipelines" / "studies"


def _base() -> dict:
    return yaml.safe_load((STUDIES / "tiny.yaml").read_text())


def test_shipped_studies_validate():
    for path in STUDIES.glob("*.yaml"):
        spec = load_spec(path)
        assert Path(spec.data.csv).is_absolute()
        if "gss" not in path.name:
            assert Path(spec.data.csv).exists(), path


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (lambda d: d.update(colour="blue"), "colour", "unknown field"),
        (lambda d: d["backstories"].update(count="many"), "backstories.count", "integer"),
        (
            lambda d: d["backstories"].update(count=1),
            "backstories.count",
            "greater than or equal to 2",
        ),
        (lambda d: d.pop("questionnaire"), "questionnaire", "required"),
        (lambda d: d["questionnaire"].update(items=[]), "questionnaire.items", "at least 1"),
        (
            lambda d: d["questionnaire"].update(reverse=["nope"]),
            "spec",
            "not in questionnaire.items",
        ),
        (lambda d: d["data"].update(traits=[]), "data", "exactly one of"),
        (
            lambda d: d["matching"].update(primary="hungarian", methods=["greedy"]),
            "matching",
            "not among methods",
        ),
        (lambda d: d.update(conditioning=["telepathy"]), "conditioning[0]", "Input should be"),
        (lambda d: d["evaluation"].update(subgroups=["shoe_size"]), "spec", "not a trait"),
        (lambda d: d.update(name="has spaces"), "name", "pattern"),
        (lambda d: d["data"].update(sample=100), "spec", "hungarian needs"),
        (
            lambda d: d["higher_order"]["items"][0].update(meta_stem="What do they think?"),
            "higher_order",
            "meta_stem must contain {group} and {target}",
        ),
        (
            lambda d: d["higher_order"]["items"][0].update(kind="mood"),
            "higher_order.items[0].kind",
            "Input should be",
        ),
        (
            lambda d: d["higher_order"].update(parties=["Whigs"]),
            "higher_order.parties",
            "at least 2",
        ),
        (
            lambda d: d["demographics"].update(orders=["sideways"]),
            "demographics.orders[0]",
            "Input should be",
        ),
        (
            lambda d: d["backstories"].update(truncate_words=2),
            "backstories.truncate_words",
            "greater than or equal to 5",
        ),
    ],
)
def test_errors_name_the_field(mutate, field, message):
    d = _base()
    mutate(d)
    with pytest.raises(ValidationError) as e:
        parse_spec(d)
    assert e.value.field == field
    assert message in e.value.message


def test_file_errors(tmp_path):
    with pytest.raises(ValidationError, match="file not found"):
        load_spec(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ValidationError, match="not valid YAML"):
        load_spec(bad)
    bad.write_text("- a list\n- not a mapping\n")
    with pytest.raises(ValidationError, match="must be a mapping"):
        load_spec(bad)


def test_data_dir_override(tmp_path):
    spec = load_spec(STUDIES / "tiny.yaml", data_dir=tmp_path)
    assert spec.data.csv == str(tmp_path.resolve() / "cces_2018_sample.csv")


def test_schema_documents_every_section():
    schema = json_schema()
    assert {
        "data",
        "questionnaire",
        "backstories",
        "matching",
        "survey",
        "model",
        "evaluation",
    } <= set(schema["properties"])
    assert schema["additionalProperties"] is False


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=12),
)
_doc = st.recursive(
    _leaf,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=10), kids, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_doc)
def test_parser_never_crashes_on_arbitrary_documents(doc):
    try:
        parse_spec(doc)
    except ValidationError as e:
        assert e.field and e.message


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(
        [
            "data",
            "questionnaire",
            "backstories",
            "matching",
            "survey",
            "model",
            "evaluation",
            "critic",
        ]
    ),
    _doc,
)
def test_parser_never_crashes_when_one_section_is_garbage(section, garbage):
    d = copy.deepcopy(_base())
    d[section] = garbage
    try:
        parse_spec(d)
    except ValidationError as e:
        assert e.field and e.message


def test_shipped_studies_use_the_embedded_models_measured_backstory_sampling():
    from pathlib import Path

    from silico.llm.roles import role_for
    from silico.pipeline.spec import load_spec

    want = role_for("embedded", "backstory").sampling
    studies = Path(__file__).resolve().parents[2] / "pipelines" / "studies"
    for name in ("cces_2018.yaml", "tiny.yaml", "interview_tiny.yaml"):
        b = load_spec(studies / name).backstories
        got = (b.prompt_format, b.temperature, b.top_p, b.repetition_penalty)
        assert got == (
            want.prompt_format,
            want.temperature,
            want.top_p,
            want.repetition_penalty,
        ), name
    assert role_for("gpu", "backstory").sampling.temperature == 1.0  # the reference


def test_yaml_aliases_are_refused_before_they_expand():
    from silico.pipeline.spec import load_yaml

    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    with pytest.raises(ValidationError, match="aliases"):
        load_yaml(bomb)
    assert load_yaml("a: &x 1\nb: 2\n") == {"a": 1, "b": 2}  # an unused anchor is harmless


def test_every_list_in_a_spec_is_bounded():
    raw = yaml.safe_load((REPO / "pipelines/studies/tiny.yaml").read_text())
    raw["questionnaire"]["items"] = [f"Q{i}" for i in range(501)]
    with pytest.raises(ValidationError) as e:
        parse_spec(raw, REPO / "pipelines/studies")
    assert "questionnaire.items" in str(e.value)
