"""Prompt text, option permutations, critic verdicts, baselines and higher-order variants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silico.core.errors import ValidationError
from silico.core.prompts import (
    BIO_PREAMBLE,
    INTERVIEW_QUESTIONS,
    Item,
    Turn,
    accepts_citizen_answer,
    backstory_prompt,
    baseline_context,
    check_consistency,
    clean_backstory,
    critic_prompt,
    demographic_items,
    interview_prompt,
    parse_verdict,
    present,
    reversed_order,
    survey_prompt,
)


def test_backstory_prompts_and_preamble():
    assert backstory_prompt("short") == "Question: Tell me about yourself.\n\nAnswer:"
    long = backstory_prompt("long", preamble="Yes, I am.")
    assert long.startswith("Question: Are you a US citizen?\n\nAnswer: Yes, I am.\n\n")
    assert "How old are you?" in long and long.endswith("Answer:")
    assert accepts_citizen_answer("yes") and not accepts_citizen_answer("yesterday I was not")
    with pytest.raises(ValidationError, match="backstory.variant"):
        backstory_prompt("medium")


def test_clean_backstory_cuts_at_stop_words():
    assert clean_backstory(" I grew up in Ohio.\n\nQuestion: next") == "I grew up in Ohio."
    assert clean_backstory("I was born. Interview ends") == "I was born."


def test_interview_has_ten_questions_and_builds_on_transcript():
    assert len(INTERVIEW_QUESTIONS) == 10
    turns = [Turn(INTERVIEW_QUESTIONS[0], "I was born in 1970.")]
    p = interview_prompt(turns, INTERVIEW_QUESTIONS[1])
    assert p.index("I was born in 1970.") < p.index("crossroads")
    assert p.endswith("Answer:")


@given(st.permutations(list(range(6))), st.lists(st.floats(0, 1), min_size=6, max_size=6))
def test_permuting_options_and_mapping_back_is_identity(order, canonical):
    item = Item("q", "Q?", tuple(f"opt{i}" for i in range(6)))
    pres = present(item, order)
    displayed = [canonical[pres.canonical_index(j)] for j in range(6)]
    assert pres.displayed_options == tuple(item.options[i] for i in order)
    assert pres.to_canonical(displayed) == [float(c) for c in canonical]


def test_survey_prompt_layout_and_reversed_order():
    item = Item("q1", "Do you approve?", ("Approve", "Neutral", "Disapprove"))
    p = survey_prompt("I am a farmer.", present(item, reversed_order(3)))
    assert p == (
        "I am a farmer.\n\nQuestion: Do you approve?\n(A) Disapprove\n(B) Neutral\n(C) Approve\n"
        "Answer with (A), (B), or (C).\nAnswer:"
    )
    with pytest.raises(ValidationError, match="permutation"):
        present(item, (0, 0, 1))


def test_item_validation_names_the_field():
    with pytest.raises(ValidationError, match=r"items\[x\]\.options"):
        Item("x", "Q?", ("only",))
    with pytest.raises(ValidationError, match=r"items\[x\]\.codes"):
        Item("x", "Q?", ("a", "b"), (1,))


def test_demographic_questionnaire_ends_with_prefer_not():
    items = demographic_items(["age", "party"])
    assert items[0].question == "What is your age?"
    assert items[1].options[-1] == "Prefer not to answer"


def test_critic_prompt_and_verdicts():
    p = critic_prompt("I am 40.", [Turn("Q1", "I am 30.")])
    assert "EARLIER ANSWERS" in p and "NEW TEXT:\nI am 40." in p and p.endswith("Verdict:")
    assert parse_verdict("ACCEPT").accepted
    v = parse_verdict("Reject: it says it is an AI language model")
    assert not v.accepted and v.reason == "frame_break"
    assert parse_verdict("REJECT: written in third person").reason == "not_first_person"
    assert parse_verdict("REJECT: meh").reason == "other"
    assert parse_verdict("maybe") is None


def test_rule_critic_catches_planted_contradiction_and_passes_consistent_story():
    earlier = [
        Turn(
            INTERVIEW_QUESTIONS[0],
            "I'm 52 years old and I grew up in Texas. When I was 12 years old we moved.",
        )
    ]
    bad = check_consistency("Well, I am 34 years old now and live alone.", earlier)
    assert not bad.accepted and bad.reason == "contradiction"
    good = check_consistency("I am 52 and I still love Texas barbecue.", earlier)
    assert good.accepted
    assert (
        check_consistency("As an AI language model, I do not have a life.").reason == "frame_break"
    )


def test_baselines():
    demo = {"party": "Republican", "age": "30-39"}
    assert baseline_context("bio", demo) == (
        f"{BIO_PREAMBLE}\nDescription: I am a Republican. I am 30 to 39 years old."
    )
    assert baseline_context("portray", demo) == "You are a Republican. You are 30 to 39 years old."
    qa = baseline_context("qa", demo)
    assert qa.count("Question:") == 2 and "Answer: 30-39" in qa
    assert baseline_context("bio", {"age": "18-29"}).endswith("Description: I am 18-29 years old.")
    with pytest.raises(ValidationError, match=r"demographics\.party"):
        baseline_context("bio", {"party": " "})
    with pytest.raises(ValidationError, match="conditioning"):
        baseline_context("anthology", demo)


def test_qa_baseline_is_multiple_choice_in_a_given_order():
    demo = {"party": "Republican", "age": "30-39"}
    options = {"party": ["Democrat", "Republican", "Independent"], "age": ["18-29", "30-39"]}
    qa = baseline_context("qa", demo, options, [1, 0])
    # The official QA format: lettered options and an answer "(X)", traits in the given order.
    assert qa.index("What is your age?") < qa.index("Democrat, a Republican")
    assert "(A) 18-29\n(B) 30-39" in qa and "Answer: (B)" in qa
    assert "(C) Independent" in qa and qa.endswith("Answer: (B)")
    with pytest.raises(ValidationError, match="order"):
        baseline_context("qa", demo, options, [0, 0])


def test_options_starting_with_the_article_a_are_guarded():
    from silico.core.extraction import parse_text_answer
    from silico.core.prompts import Item, letter_word_options, present, survey_prompt

    opts = ("A lot", "Some", "Not at all")
    assert letter_word_options(opts) and not letter_word_options(("Agree", "Disagree"))
    # Sampled text "A lot" is the first option's text, not a stray letter A.
    assert parse_text_answer(" A lot, honestly", list(opts)) == 0
    assert parse_text_answer(" Not at all", list(opts)) == 2
    assert parse_text_answer(" (C) Not at all", list(opts)) == 2
    # Logprob scoring opens the parenthesis so that the next token is the letter.
    p = survey_prompt("ctx", present(Item("q", "How much?", opts)), open_paren=True)
    assert p.endswith("Answer: (")
