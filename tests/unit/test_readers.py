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


# --- memory cap, dates, the columns read -------------------------------------------

CAP = 2**20


def _stopped_after(message: str) -> float:
    """Bytes a refused read had decoded, from its message."""
    import re

    m = re.search(r"stopped after (\d+) (MB|bytes)", message)
    assert m, message
    return float(m.group(1)) * (2**20 if m.group(2) == "MB" else 1)


def test_a_parquet_that_expands_is_stopped_while_read(tmp_path):
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    # One 10 KB string for 20,000 rows: a dictionary page of one value and a run
    # of zeros, so the file's own sizes say ~10 KB while pandas would hold 200 MB.
    n, value = 20_000, "a" * 10_000
    col = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value]))
    path = tmp_path / "bomb.parquet"
    pq.write_table(
        pa.table({"x": col, "n": np.arange(n, dtype=float)}),
        path,
        compression="zstd",
        store_schema=False,  # read back as plain strings, as any other writer's file
    )
    assert path.stat().st_size < 100_000
    start = time.perf_counter()
    with pytest.raises(ValidationError) as e:
        read_dataset(path, require_codebook=False, max_decoded_bytes=CAP)
    assert time.perf_counter() - start < 5
    assert e.value.field == "data.path" and "bomb.parquet" in e.value.message
    assert _stopped_after(e.value.message) < n * len(value) / 10
    # The numbers alone are small: reading only them passes.
    df, _ = read_dataset(path, require_codebook=False, columns=["n"], max_decoded_bytes=CAP)
    assert list(df.columns) == ["n"] and len(df) == n


def test_a_stata_file_of_shared_long_strings_is_stopped_while_read(tmp_path):
    import time

    # strL cells point into one table of strings: 20,000 rows share one 10 KB value,
    # a ~330 KB file that pandas would hold as 200 MB.
    n, value = 20_000, "a" * 10_000
    path = tmp_path / "bomb.dta"
    pyreadstat.write_dta(pd.DataFrame({"x": [value] * n, "n": np.arange(n, dtype=float)}), path)
    _, meta = pyreadstat.read_dta(str(path), metadataonly=True)
    assert meta.variable_storage_width["x"] == 0 and path.stat().st_size < 400_000
    start = time.perf_counter()
    with pytest.raises(ValidationError) as e:
        read_dataset(path, max_decoded_bytes=CAP)
    assert time.perf_counter() - start < 5
    assert e.value.field == "data.path" and "bomb.dta" in e.value.message
    assert _stopped_after(e.value.message) < n * len(value) / 10
    df, _ = read_dataset(path, columns=["n"], max_decoded_bytes=CAP)
    assert list(df.columns) == ["n"] and len(df) == n


@pytest.mark.parametrize("fmt", ["sav", "dta", "csv", "parquet"])
def test_the_cap_counts_decoded_rows(files, fmt):
    codebook = files / "cb.json" if fmt in ("csv", "parquet") else None
    with pytest.raises(ValidationError, match="in memory once decoded") as e:
        read_dataset(files / f"s.{fmt}", codebook, max_decoded_bytes=100)
    assert e.value.field == "data.path"
    df, _ = read_dataset(files / f"s.{fmt}", codebook, max_rows=3)
    assert len(df) == 3 and list(df["resp"]) == ROWS["resp"][:3]


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_a_labelled_file_with_dates_loads(files, fmt):
    import datetime as dt

    df = pd.DataFrame(ROWS)
    df["born"] = [dt.date(1950 + i, 1, 2) for i in range(7)] + [None]
    df["started"] = [dt.datetime(2018, 11, 7, 9, i) for i in range(8)]
    path = files / f"dated.{fmt}"
    labels = {"q1": Q1, "q2": Q2}
    if fmt == "sav":
        pyreadstat.write_sav(
            df,
            path,
            column_labels=labels,
            variable_value_labels={"q1": Q1_LABELS, "q2": Q2_LABELS},
            missing_ranges={"q1": [-9, 8], "q2": [-9], "party": [9]},
        )
    else:
        pyreadstat.write_dta(
            df.drop(columns=["q1", "q2"]).assign(
                q1=[x if x not in (-9, 8) else np.nan for x in ROWS["q1"]],
                q2=[x if x != -9 else np.nan for x in ROWS["q2"]],
            ),
            path,
            column_labels=labels,
            variable_value_labels={"q1": Q1_LABELS, "q2": Q2_LABELS},
        )
    frame, cb = read_dataset(path)
    # Dates come as numbers (the format's own count of days or seconds).
    assert frame["born"].dtype == float and frame["born"].notna().sum() == 7
    assert frame["born"].iloc[:7].is_monotonic_increasing
    assert frame["started"].dtype == float and frame["started"].is_monotonic_increasing
    assert cb.variables["born"]["scale_type"] == "continuous"
    _same(_load(path), _load(files / "s.csv", files / "cb.json"))


@pytest.mark.parametrize("fmt", ["sav", "dta", "csv", "parquet"])
def test_reading_only_the_needed_columns_changes_nothing(files, fmt):
    codebook = files / "cb.json" if fmt in ("csv", "parquet") else None
    whole, cb = read_dataset(files / f"s.{fmt}", codebook)
    assert len(whole.columns) == len(ROWS)
    part, part_cb = read_dataset(files / f"s.{fmt}", codebook, columns=["q2", "resp", "nope"])
    assert list(part.columns) == ["resp", "q2"]
    pd.testing.assert_frame_equal(part, whole[["resp", "q2"]])
    assert part_cb.variables["q2"] == cb.variables["q2"]
    args = (["q1", "q2"], TRAITS)
    kw = {"weight": "w", "id_column": "resp", "groups": ["age_cat4"]}
    a = load_survey(whole, cb, *args, **kw)
    b = load_survey(files / f"s.{fmt}", codebook, *args, **kw)
    _same(a, b)
    assert pd.Series(a.groups["age_cat4"]).equals(pd.Series(b.groups["age_cat4"]))


@pytest.mark.parametrize("fmt", ["sav", "dta", "csv", "parquet"])
def test_the_header_alone_names_the_columns(files, fmt):
    from silico.core.data._readers import dataset_columns

    assert dataset_columns(files / f"s.{fmt}") == list(ROWS)


def test_a_csv_read_in_chunks_types_its_columns_as_a_whole_read(tmp_path, monkeypatch):
    import silico.core.data._readers as readers

    lines = ["id,num,late_text,zip,flag,blank"]
    for i in range(3000):
        text = str(i) if i < 2500 else "n/a"
        zip_code = f"{i:05d}" if i != 2900 else "X1"
        flag = "True" if i < 2000 else ""
        lines.append(f"{i},{i / 7 if i % 5 else ''},{text},{zip_code},{flag},")
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(readers, "_CHUNK_BYTES", 8 * 6 * 400)  # ~400 rows a chunk
    df, _ = read_dataset(path, require_codebook=False)
    whole = pd.read_csv(path, low_memory=False)
    pd.testing.assert_frame_equal(df, whole, check_exact=True)
    for c in whole.columns:
        assert [type(x) for x in df[c]] == [type(x) for x in whole[c]], c
