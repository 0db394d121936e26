"""Loading real survey data: GSS known figures, CCES battery, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from silico.core.data import CCES_2018_TRAITS, GSS_TRAITS, TraitColumn, load_survey
from silico.core.errors import ValidationError
from silico.core.stats import by_subgroup, cronbach_alpha, distributions


def _gss(gss_dir, items, **kw):
    return load_survey(
        gss_dir / "gss_2016_2018.csv",
        gss_dir / "codebook.json",
        items,
        GSS_TRAITS,
        weight="wtssall",
        filters={"year": [2018]},
        **kw,
    )


def test_gss_2018_weighted_figures(gss_dir):
    d = _gss(gss_dir, ["abany", "cappun", "grass"], groups=["party3"])
    dist = distributions(d.responses)
    assert round(dist[0][0] * 100, 1) == 49.9  # abany yes
    assert round(dist[1][0] * 100, 1) == 63.6  # cappun favour
    assert round(dist[2][0] * 100, 1) == 66.4  # grass legal
    party = d.groups["party3"]
    for label, expected in (("Democrat", 63.7), ("Republican", 28.3)):
        sub = d.responses.take(party == label)
        assert round(distributions(sub)[0][0] * 100, 1) == expected
    # The party trait decodes to the same groups.
    assert np.array_equal(d.trait_labels("party") == "Democrat", party == "Democrat")


def test_gss_split_ballot_items_are_missing_not_zero(gss_dir):
    d = _gss(gss_dir, ["abany"])
    raw = pd.read_csv(gss_dir / "gss_2016_2018.csv", usecols=["year", "abany", "wtssall"])
    raw = raw[raw.year == 2018]
    asked = raw.abany.isin([1, 2]).sum()
    assert np.isfinite(d.responses.values[:, 0]).sum() == asked


def test_cces_racial_resentment_alpha(cces_dir):
    items = [f"CC18_422{c}" for c in "abcdefgh"]
    d = load_survey(
        cces_dir / "cces_2018_sample.csv",
        cces_dir / "codebook.json",
        items,
        CCES_2018_TRAITS,
        weight="commonpostweight",
        reverse=["CC18_422a", "CC18_422d", "CC18_422f", "CC18_422g"],
        id_column="case_id",
    )
    # The data README gives 0.91 for this battery.
    assert round(cronbach_alpha(d.responses.values, d.responses.weights), 2) == 0.91
    assert d.items[0].options[0] == "Strongly disagree"  # reversed
    assert d.n == 869  # the post-election wave only (weight present)
    frame = d.to_frame()
    assert list(frame.columns[:3]) == ["respondent_id", "weight", "age"] and len(frame) == d.n
    # Subgroups by party exist and are computable.
    out = by_subgroup(d.responses, d.responses, d.trait_labels("party"))
    assert {"Democrat", "Republican"} <= set(out)


def _write(tmp_path, rows, codebook=None):
    csv = tmp_path / "d.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    cb = tmp_path / "cb.json"
    import json

    cb.write_text(
        json.dumps(
            codebook
            or {
                "q": {
                    "question": "Q?",
                    "value_labels": {"1": "yes", "2": "no", "8": "dk"},
                    "ordinal_codes_in_order": [1, 2],
                    "nonsubstantive_valid_codes": [8],
                },
                "_missing_codes": {"-9": "refused"},
            }
        )
    )
    return csv, cb


def test_bad_data_errors_name_the_field(tmp_path):
    party = [TraitColumn("party", "p", "party4", {"1": "Democrat", "2": "Republican"})]
    csv, cb = _write(tmp_path, {"q": [1, 2, 8, -9, None], "p": [1, 2, 1, 2, 1]})
    d = load_survey(csv, cb, ["q"], party)
    assert np.isnan(d.responses.values[2:, 0]).all() and d.responses.values[1, 0] == 2
    with pytest.raises(ValidationError, match=r"missing in d.csv: \['nope'\]"):
        load_survey(csv, cb, ["nope"], party)
    csv2, _ = _write(tmp_path, {"q": [1, 3], "p": [1, 1]})
    with pytest.raises(ValidationError, match=r"data\.q: code 3 is outside the codebook"):
        load_survey(csv2, cb, ["q"], party)
    csv3, _ = _write(tmp_path, {"q": ["x", 1], "p": [1, 1]})
    with pytest.raises(ValidationError, match="non-numeric value 'x'"):
        load_survey(csv3, cb, ["q"], party)
    csv4, _ = _write(tmp_path, {"q": [1, 1], "p": [1, 7]})
    with pytest.raises(ValidationError, match=r"traits\[0\]\.values: value '7' of column 'p' is not mapped"):
        load_survey(csv4, cb, ["q"], party)
    with pytest.raises(ValidationError, match="file not found"):
        load_survey(tmp_path / "absent.csv", cb, ["q"], party)
    with pytest.raises(ValidationError, match="not an ordinal item|not in the codebook"):
        load_survey(csv, cb, ["p"], party)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValidationError, match="not a readable CSV"):
        load_survey(tmp_path / "empty.csv", cb, ["q"], party)


# Cells a hostile or careless upload can hold: codes in and out of the codebook,
# missing-value codes, blanks, text, floats, huge numbers, quotes and separators.
_GOOD = st.sampled_from(["1", "2", "3", "4", "8", "-9", "", "1.0"])
_CELL = st.one_of(
    _GOOD,
    _GOOD,
    _GOOD,
    st.sampled_from(["NA", " ", "2.5", "1e300", "0", "-1", "inf", "nan"]),
    st.integers(-(10**12), 10**12).map(str),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            _CELL,
            st.sampled_from(["1", "2", "1", "3", ""]),
            st.one_of(st.sampled_from(["1", "0.5", "2.25", "", "0"]), _CELL),
        ),
        max_size=12,
    ),
    header=st.sampled_from(["q,p,w"] * 6 + ["q,p", "p,w", "q;p;w", ""]),
)
def test_csv_loader_fuzz_returns_data_or_names_the_problem(tmp_path, rows, header):
    """Whatever the file holds, the loader returns valid data or raises a
    ValidationError naming a field; it never crashes with anything else."""
    import csv as _csv
    import io
    import json

    (tmp_path / "cb.json").write_text(
        json.dumps(
            {
                "q": {
                    "value_labels": {"1": "a", "2": "b", "3": "c", "4": "d"},
                    "ordinal_codes_in_order": [1, 2, 3, 4],
                    "nonsubstantive_valid_codes": [8],
                },
                "p": {"value_labels": {"1": "D", "2": "R"}},
            }
        )
    )
    buf = io.StringIO()
    if header:
        buf.write(header + "\n")
    w = _csv.writer(buf)
    for r in rows:
        w.writerow(r)
    (tmp_path / "d.csv").write_text(buf.getvalue())
    party = [TraitColumn("party", "p", "party4", {"1": "Democrat", "2": "Republican"})]
    try:
        d = load_survey(tmp_path / "d.csv", tmp_path / "cb.json", ["q"], party, weight="w")
    except ValidationError as e:
        assert e.field and str(e)
        event(f"rejected: {e.field}")
        return
    event("loaded")
    vals = d.responses.values
    assert vals.shape == (d.n, 1)
    ok = vals[~np.isnan(vals)]
    assert ((ok >= 1) & (ok <= 4)).all()
    assert (d.responses.weights > 0).all() and np.isfinite(d.responses.weights).all()


def test_cut_question_text_is_refused_and_the_full_wording_used(cces_dir, tmp_path):
    import json

    items = ["CC18_422a", "CC18_422b"]
    d = load_survey(cces_dir / "cces_2018_sample.csv", cces_dir / "codebook.json", items, ())
    # The default study asks the wording respondents read, not the 80-character label.
    assert d.items[0].question.endswith("because of the color of their skin.")
    cb = json.loads((cces_dir / "codebook.json").read_text())
    del cb["CC18_422a"]["question"]  # as the codebook was before: only the cut label
    path = tmp_path / "cb.json"
    path.write_text(json.dumps(cb))
    with pytest.raises(ValidationError, match=r"questionnaire\.items\.CC18_422a.*looks cut"):
        load_survey(cces_dir / "cces_2018_sample.csv", path, items, ())
    full = "Do you agree? White people have advantages because of the color of their skin."
    d2 = load_survey(
        cces_dir / "cces_2018_sample.csv", path, items, (), questions={"CC18_422a": full}
    )
    assert d2.items[0].question == full
