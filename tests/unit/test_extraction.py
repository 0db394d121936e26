"""Answer extraction from logprobs and from sampled text."""

from __future__ import annotations

import math

import numpy as np
import pytest

from silico.core.errors import ValidationError
from silico.core.extraction import (
    OptionScores,
    combine_with_followup,
    option_distribution,
    parse_text_answer,
    sampled_distribution,
)


def test_letter_forms_are_summed_and_compliance_kept():
    lp = {
        "A": math.log(0.1),
        " A": math.log(0.2),
        "(A": math.log(0.05),
        " (B": math.log(0.15),
        " C": math.log(0.1),
        " D": math.log(0.3),  # a letter beyond the 3 options is not an answer
        " I": math.log(0.1),
    }
    s = option_distribution(lp, 3)
    assert s.compliance == pytest.approx(0.6)
    assert np.allclose(s.probs, [0.35 / 0.6, 0.15 / 0.6, 0.1 / 0.6])
    assert s.probs.sum() == pytest.approx(1.0)


def test_no_letter_mass_is_uniform_with_zero_compliance():
    s = option_distribution({" the": -0.1, " (": -2.0}, 4)
    assert s.compliance == 0.0 and np.allclose(s.probs, 0.25)
    assert s.paren_mass == pytest.approx(math.exp(-2.0))


def test_positive_logprob_is_rejected():
    with pytest.raises(ValidationError, match="above 0"):
        option_distribution({"A": 0.5}, 2)


def test_followup_after_parenthesis_folds_in():
    direct = option_distribution({" A": math.log(0.2), " (": math.log(0.6)}, 2)
    follow = option_distribution({"B": math.log(0.9), "A": math.log(0.1)}, 2)
    s = combine_with_followup(direct, follow)
    mass = np.array([0.2 + 0.6 * 1.0 * 0.1, 0.6 * 1.0 * 0.9])
    assert np.allclose(s.probs, mass / mass.sum())
    assert s.compliance == pytest.approx(mass.sum())
    with pytest.raises(ValidationError):
        combine_with_followup(direct, OptionScores(np.ones(3) / 3, 1.0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" (C)", 2),
        (" C) Disagree", 2),
        ("B. Somewhat agree", 1),
        ("A", 0),
        (" Somewhat agree, I think", 1),
        (" I agree", 0),
        (" (A) Agree\nQuestion: next", 0),
        (" (A) or (B)", None),
        (" (A) Disagree", None),
        (" agree and disagree", None),
        (" I have no idea", None),
        ("", None),
        (" Zebra", None),
    ],
)
def test_text_answers(text, expected):
    assert parse_text_answer(text, ["Agree", "Somewhat agree", "Disagree"]) == expected


def test_sampled_distribution_keeps_noncompliant_bucket():
    probs, compliance = sampled_distribution([0, 1, 1, None, None], 3)
    assert np.allclose(probs, [1 / 3, 2 / 3, 0]) and compliance == pytest.approx(0.6)
    with pytest.raises(ValidationError):
        sampled_distribution([5], 3)
