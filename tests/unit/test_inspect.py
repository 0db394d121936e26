"""`silico data inspect`: variables described, traits and items proposed, and the
drafted study spec validates as written."""

from __future__ import annotations

import numpy as np

from silico.cli import main
from silico.core.data import PROFILES, coverage, draft_spec, inspect_dataset
from silico.core.data._inspect import parse_interval
from silico.pipeline.runner import load_humans
from silico.pipeline.spec import load_spec

from .test_readers import files  # noqa: F401  (the labelled-file fixture)


def _validates(ins, tmp_path):
    out = tmp_path / "draft" / "study.yaml"
    out.parent.mkdir(exist_ok=True)
    out.write_text(draft_spec(ins, out))
    spec = load_spec(out)
    return spec, load_humans(spec)


def test_bundled_cces_is_read_like_its_profile(cces_dir, tmp_path):
    ins = inspect_dataset(cces_dir / "cces_2018_sample.csv", cces_dir / "codebook.json")
    assert (ins.weight, ins.id_column) == ("commonweight", "case_id")
    profile = {t.trait: t for t in PROFILES["cces_2018"]}
    for t in ins.traits:
        assert t.column == profile[t.trait].column, t
        if t.values is not None:  # the profile's own map, on the codes this sample holds
            shared = set(t.values) & set(profile[t.trait].values or {})
            assert all(t.values[k] == profile[t.trait].values[k] for k in shared), t.trait
    assert {t.trait for t in ins.traits} == set(profile)
    names = [it.name for it in ins.items if not it.cut]
    assert "CC18_422a" in names and "pid7" not in names and "faminc_new" not in names
    spec, humans = _validates(ins, tmp_path)
    assert humans.n == 100 and len(humans.items) == len(names)
    cov = coverage(humans)
    assert 0 < cov.complete <= cov.n == 100
    assert abs(sum(cov.shares["party"].values()) - 1) < 1e-9
    assert cov.cut == () and cov.no_question == ()


def test_gss_with_its_harmonised_columns(gss_dir, tmp_path):
    ins = inspect_dataset(gss_dir / "gss_2016_2018.csv", gss_dir / "codebook.json")
    assert (ins.weight, ins.id_column) == ("wtssall", "resp_id")
    assert {t.trait: t.column for t in ins.traits} == {
        t.trait: t.column for t in PROFILES["gss_2016_2018"]
    }
    assert "abany" not in {it.name for it in ins.items}  # binary, not ordinal
    assert "confinan" in {it.name for it in ins.items}
    _validates(ins, tmp_path)


def test_a_labelled_file_needs_nothing_but_itself(files, tmp_path):  # noqa: F811
    ins = inspect_dataset(files / "s.sav")
    assert (ins.weight, ins.id_column) == ("w", "resp")
    party = next(t for t in ins.traits if t.trait == "party")
    assert party.values == {"1": "Democrat", "2": "Republican", "3": "Independent", "9": None}
    assert [it.name for it in ins.items] == ["q1", "q2"]
    q1 = next(v for v in ins.variables if v.name == "q1")
    assert dict(q1.missing) == {"-9": 1, "8": 1, "empty": 1} and q1.role == "item"
    spec, humans = _validates(ins, tmp_path)
    assert spec.data.codebook is None and humans.n == 8
    assert np.isnan(humans.responses.values[4:6, 0]).all()


def test_an_unlabelled_csv_is_described_but_its_draft_asks_for_a_codebook(files):  # noqa: F811
    ins = inspect_dataset(files / "s.csv")
    assert ins.needs_codebook and ins.items == ()
    assert "add `codebook:`" in draft_spec(ins, files / "x.yaml")


def test_band_labels_read_as_ranges():
    assert parse_interval("1. $20,000 to $24,999") == (20000.0, 25000.0)
    assert parse_interval("$10k-$20k") == (10000.0, 20001.0)
    assert parse_interval("Under 18") == (0.0, 18.0)
    assert parse_interval("Strongly agree") is None


def test_cli_inspect_then_validate(cces_dir, tmp_path, capsys):
    out = tmp_path / "cces.yaml"
    args = ["data", "inspect", str(cces_dir / "cces_2018_sample.csv")]
    assert main([*args, "--codebook", str(cces_dir / "codebook.json"), "--spec-out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pid3" in text and "-> trait party (party4)" in text and "draft spec written" in text
    assert main([*args, "--spec-out", str(out)]) == 2  # never over an existing file
    assert main(["validate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "coverage" in text and "every trait" in text and "Democrat" in text
