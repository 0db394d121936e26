"""Survey files in every supported format load to the same respondents."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pyreadstat = pytest.importorskip("pyreadstat")

from silico.core.data import Codebook, TraitColumn, load_survey, read_dataset  # noqa: E402
from silico.core.errors import ValidationError  # noqa: E402
from silico.pipeline.runner import load_humans  # noqa: E402
from silico.pipeline.spec import load_spec, parse_spec  # noqa: E402

Q1 = "How much do you agree that the schools in your area are good?"
Q2 = "Would you say things in this country are heading in the right direction?"
Q1_LABELS = {1: "Strongly agree", 2: "Agree", 3: "Disagree", 4: "Strongly disagree"}
Q2_LABELS = {1: "Right direction", 2: "Somewhere in between", 3: "Wrong track"}
PARTY_LABELS = {1: "Democrat", 2: "Republican", 3: "Independent"}

# One survey as a survey team would hold it: -9 refused and 8 don't know are
# declared missing codes; 9 is a party "not sure" code declared missing too.
ROWS = {
    "resp": [101, 102, 103, 104, 105, 106, 107, 108],
    "q1": [1, 2, 3, 4, 8, -9, np.nan, 2],
    "q2": [3, 2, 1, -9, 1, 2, 3, np.nan],
    "party": [1, 2, 3, 9, 1, 2, 3, 1],
    "age_cat4": ["18-29", "30-49", "50-64", "65+", "18-29", "30-49", "", "65+"],
    "w": [1.0, 0.5, 2.0, 1.5, 1.0, 0.8, 1.2, 0.9],
}
TRAITS = (
    TraitColumn(
        "party",
        "party",
        "party4",
        {"1": "Democrat", "2": "Republican", "3": "Independent", "9": None},
    ),
    TraitColumn("age", "age_cat4", "age4"),
)


def _codebook_json() -> dict:
    return {
        "_missing_codes": {"-9": "refused", "8": "don't know"},
        "q1": {
            "question": Q1,
            "value_labels": {str(k): v for k, v in Q1_LABELS.items()},
            "ordinal_codes_in_order": [1, 2, 3, 4],
        },
        "q2": {
            "question": Q2,
            "value_labels": {str(k): v for k, v in Q2_LABELS.items()},
            "ordinal_codes_in_order": [1, 2, 3],
        },
        "party": {
            "question": "Party",
            "value_labels": {str(k): v for k, v in PARTY_LABELS.items()},
        },
    }


@pytest.fixture
def files(tmp_path):
    df = pd.DataFrame(ROWS)
    df.to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "cb.json").write_text(json.dumps(_codebook_json()))
    df.to_parquet(tmp_path / "s.parquet")
    labels = {
        "q1": Q1,
        "q2": Q2,
        "party": "Generally speaking, which party do you identify with?",
        "w": "Survey weight",
        "resp": "Respondent id",
    }
    pyreadstat.write_sav(
        df,
        tmp_path / "s.sav",
        column_labels=labels,
        variable_value_labels={
            "q1": {**Q1_LABELS, 8: "Don't know", -9: "Refused"},
            "q2": {**Q2_LABELS, -9: "Refused"},
            "party": {**PARTY_LABELS, 9: "Not sure"},
        },
        missing_ranges={"q1": [-9, 8], "q2": [-9], "party": [9]},
    )
    # Stata keeps its missing codes as extended missing values: -9 is .a, 8 is .b, 9 is .c.
    dta = df.copy()
    for col, codes in {"q1": {-9: "a", 8: "b"}, "q2": {-9: "a"}, "party": {9: "c"}}.items():
        dta[col] = [codes.get(x, x) if not pd.isna(x) else np.nan for x in dta[col]]
        dta[col] = dta[col].astype(object)
    pyreadstat.write_dta(
        dta,
        tmp_path / "s.dta",
        column_labels=labels,
        variable_value_labels={"q1": Q1_LABELS, "q2": Q2_LABELS, "party": PARTY_LABELS},
        missing_user_values={"q1": ["a", "b"], "q2": ["a"], "party": ["c"]},
    )
    return tmp_path


def _load(path, codebook=None):
    return load_survey(path, codebook, ["q1", "q2"], TRAITS, weight="w", id_column="resp")


def _same(a, b):
    assert list(a.ids) == list(b.ids)
    np.testing.assert_array_equal(a.responses.values, b.responses.values)
    np.testing.assert_array_equal(a.responses.weights, b.responses.weights)
    assert a.traits.keys() == b.traits.keys()
    for t in a.traits:
        np.testing.assert_array_equal(a.traits[t], b.traits[t])
    assert [(i.question, i.options, i.codes) for i in a.items] == [
        (i.question, i.options, i.codes) for i in b.items
    ]


@pytest.mark.parametrize("fmt", ["sav", "dta", "parquet"])
def test_every_format_gives_the_same_respondents_as_csv_and_codebook(files, fmt):
    reference = _load(files / "s.csv", files / "cb.json")
    codebook = files / "cb.json" if fmt == "parquet" else None
    _same(_load(files / f"s.{fmt}", codebook), reference)
    assert list(reference.ids) == [str(i) for i in ROWS["resp"]]
    # Refused, don't know and blanks are missing; "not sure" is no party.
    assert np.isnan(reference.responses.values[4:7, 0]).all()
    assert reference.traits["party"][3] == -1


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_a_labelled_file_carries_its_codebook(files, fmt):
    df, cb = read_dataset(files / f"s.{fmt}")
    q1 = cb.variables["q1"]
    assert q1["question_label"] == Q1
    assert q1["ordinal_codes_in_order"] == [1, 2, 3, 4]
    assert q1["scale_type"] == "ordinal"
    # Declared missing codes are empty cells, counted in the codebook.
    assert df["q1"].isna().sum() == 3
    assert sum(q1["n_missing"].values()) == 2
    assert cb.variables["age_cat4"]["scale_type"] == "text"
    assert cb.variables["w"]["ordinal_codes_in_order"] == []
    assert cb.item("q2").options == tuple(Q2_LABELS.values())


def test_a_codebook_given_beside_a_labelled_file_wins(files):
    cb = _codebook_json()
    cb["q1"]["question"] = "A better wording?"
    (files / "better.json").write_text(json.dumps({"q1": cb["q1"]}))
    d = _load(files / "s.sav", files / "better.json")
    assert d.items[0].question == "A better wording?"
    assert d.items[1].question == Q2  # the file's own label where the codebook is silent


def test_an_unlabelled_file_needs_its_codebook(files):
    with pytest.raises(ValidationError) as e:
        read_dataset(files / "s.csv")
    assert e.value.field == "data.codebook"
    with pytest.raises(ValidationError) as e:
        _load(files / "s.parquet")
    assert e.value.field == "data.codebook"
    frame, cb = read_dataset(files / "s.csv", require_codebook=False)
    assert len(frame) == 8 and cb.variables == {}


def test_compressed_or_unknown_files_are_refused(files):
    (files / "s.csv.gz").write_bytes(b"\x1f\x8b" + b"\0" * 16)
    with pytest.raises(ValidationError, match="compressed"):
        read_dataset(files / "s.csv.gz", files / "cb.json")
    (files / "s.xlsx").write_bytes(b"PK")
    with pytest.raises(ValidationError, match="unsupported format"):
        read_dataset(files / "s.xlsx")
    # A zlib-compressed SPSS file (.zsav) under a .sav name is still refused.
    pyreadstat.write_sav(
        pd.DataFrame(ROWS).drop(columns="age_cat4"), files / "z.sav", compress=True
    )
    with pytest.raises(ValidationError, match="compressed"):
        read_dataset(files / "z.sav")
    (files / "bad.sav").write_bytes(b"not a sav file at all")
    with pytest.raises(ValidationError, match="not a readable SPSS file"):
        read_dataset(files / "bad.sav")


def test_a_frame_loads_like_its_file(files):
    df = pd.read_csv(files / "s.csv")
    _same(
        load_survey(
            df, Codebook.load(files / "cb.json"), ["q1", "q2"], TRAITS, weight="w", id_column="resp"
        ),
        _load(files / "s.csv", files / "cb.json"),
    )


def _spec(data: dict) -> dict:
    return {
        "name": "byo",
        "data": {
            **data,
            "id_column": "resp",
            "weight": "w",
            "traits": [
                {
                    "trait": "party",
                    "column": "party",
                    "scheme": "party4",
                    "values": {"1": "Democrat", "2": "Republican", "3": "Independent", "9": None},
                },
                {"trait": "age", "column": "age_cat4", "scheme": "age4"},
            ],
        },
        "questionnaire": {"items": ["q1", "q2"]},
        "backstories": {"count": 10},
        "evaluation": {"subgroups": ["party"]},
    }


def test_the_spec_takes_a_path_and_a_codebook_only_when_needed(files):
    sav = parse_spec(_spec({"path": "s.sav"}), files)
    assert sav.data.path == str(files.resolve() / "s.sav") and sav.data.codebook is None
    old = parse_spec(_spec({"csv": "s.csv", "codebook": "cb.json"}), files)
    assert old.data.path == old.data.csv
    _same(load_humans(sav), load_humans(old))
    with pytest.raises(ValidationError) as e:
        parse_spec(_spec({"path": "s.csv"}), files)
    assert e.value.field == "data.codebook" and "s.csv" in e.value.message
    with pytest.raises(ValidationError) as e:
        parse_spec(_spec({"path": "s.xlsx"}), files)
    assert e.value.field == "data.path"
    with pytest.raises(ValidationError, match="differ"):
        parse_spec(_spec({"path": "s.sav", "csv": "s.dta"}), files)
    with pytest.raises(ValidationError) as e:
        parse_spec(_spec({}), files)
    assert e.value.field == "data.path"


def test_data_dir_moves_a_labelled_file(files, tmp_path_factory):
    spec_dir = tmp_path_factory.mktemp("spec")
    (spec_dir / "s.yaml").write_text(json.dumps(_spec({"path": "elsewhere/s.sav"})))
    spec = load_spec(spec_dir / "s.yaml", data_dir=files)
    assert spec.data.path == str(files.resolve() / "s.sav") and spec.data.codebook is None
    assert load_humans(spec).n == 8
