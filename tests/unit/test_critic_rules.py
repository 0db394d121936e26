"""The rule-based backstory critic: accuracy on a labelled set and one planted case per rule."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from silico.core.prompts import (
    INTERVIEW_QUESTIONS,
    REASON_CODES,
    REASON_DESCRIPTIONS,
    Turn,
    check_backstory,
    check_consistency,
    text_quality,
)

LABELLED = Path(__file__).parent / "data" / "critic_labelled.jsonl"

GOOD = (
    "I'm 43 and I grew up in Scranton, Pennsylvania, the second of four kids. My father "
    "drove a delivery truck and my mother worked in the school cafeteria. I went to a "
    "community college for two years and then got a job at the post office, where I've "
    "been for eighteen years now. My wife and I have two boys who play hockey. I like "
    "to fish, I coach Little League, and we go to the Jersey shore every August."
)


def _labelled() -> list[dict[str, str]]:
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]


def test_labelled_set_is_big_and_balanced():
    rows = _labelled()
    assert len(rows) >= 80
    assert {r["label"] for r in rows} == {"good", "bad"}
    share_good = sum(r["label"] == "good" for r in rows) / len(rows)
    assert 0.4 <= share_good <= 0.6
    for r in rows:
        if r["label"] == "good":
            assert 40 <= len(r["text"].split()) <= 200


def test_accuracy_on_labelled_set():
    rows = _labelled()
    correct = 0
    per_category: dict[str, Counter[str]] = defaultdict(Counter)
    wrong = []
    for r in rows:
        v = check_backstory(r["text"])
        ok = v.accepted == (r["label"] == "good")
        correct += ok
        per_category[f"{r['label']}/{r['category']}"][v.reason or "accepted"] += 1
        if not ok:
            wrong.append((r["label"], r["category"], v.reason, r["text"][:60]))
    accuracy = correct / len(rows)
    print(f"\nrule critic accuracy: {correct}/{len(rows)} = {accuracy:.1%}")
    for cat, counts in sorted(per_category.items()):
        print(f"  {cat:24s} {dict(counts)}")
    for w in wrong:
        print("  WRONG", w)
    assert accuracy >= 0.95


def test_every_reason_is_documented():
    assert REASON_CODES[:4] == ("contradiction", "incoherent", "not_first_person", "frame_break")
    assert set(REASON_CODES) == set(REASON_DESCRIPTIONS)
    for r in _labelled():
        v = check_backstory(r["text"])
        assert v.accepted or v.reason in REASON_DESCRIPTIONS


def test_good_story_passes_every_rule():
    v = check_backstory(GOOD)
    assert v.accepted, v
    q = text_quality(GOOD)
    assert q["ascii_letter_share"] == 1.0
    assert q["known_share"] > 0.9
    assert q["frame_hits"] == q["off_topic_hits"] == q["fiction_score"] == 0
    assert q["repeated_trigram_share"] < 0.05
    assert q["first_person_rate"] > 0.05
    assert q["life_fact_kinds"] >= 4


PLANTED = [
    ("too_short", "Hi there."),
    ("not_english", "Κάθε πρωί πίνω καφέ στο μπαλκόνι και κοιτάζω τη θάλασσα με τη γάτα μου."),
    (
        "not_english",
        "Yo nací en un pueblo cerca de Monterrey y ahora trabajo en una tienda con mi hermano.",
    ),
    ("gibberish", "Florp dazzen mivvy orkle, tranzo plee nubbin vasker ostrilo grenn fapple."),
    (
        "gibberish",
        "sunshine tractor pillow guitar kitchen highway blanket teacher garden coffee river "
        "window candle football mountain pencil rabbit",
    ),
    (
        "repetitive",
        "I live in a house. I live in a house with my dog. I live in a house. I live in a "
        "house with my dog. I live in a house. I live in a house with my dog.",
    ),
    (
        "verse",
        "The rain came down on Sunday\nAnd my brother went away\nThe dog still waits by "
        "the window\nFor a boy who will not stay\nThe years went by like water\nAnd I am "
        "older every day",
    ),
    (
        "prompt_copy",
        "Tell me about yourself. How old are you? Where did you grow up? Tell me about "
        "yourself. What matters to you and what do you enjoy?",
    ),
    ("prompt_copy", "Who am I? Where am I from? What do I want? Why am I here? Who knows?"),
    (
        "frame_break",
        "I appreciate the question, but as an AI I don't have a childhood, a job or a "
        "family. I can write a sample profile of a retired teacher if that is useful.",
    ),
    (
        "fiction",
        "I was born on a starship between two suns. My mother was a pilot and my father "
        "fixed the hyperspace engines. I am 30 now and I trade spices between the planets.",
    ),
    (
        "fiction",
        "I'm 212 years old and I grew up in Boston. I worked as a sailor and a blacksmith "
        "and I have outlived three wives and all of my children.",
    ),
    (
        "off_topic",
        "Combine 2 cups of rice with 4 cups of water and a pinch of salt. Bring to a boil, "
        "then simmer for 20 minutes. Stir in 2 tablespoons of butter before serving.",
    ),
    (
        "not_first_person",
        "Linda grew up in Tacoma and worked as a dental assistant for twenty years. She "
        "married her high school boyfriend, and they raised three daughters. Now she "
        "volunteers at the animal shelter and takes long walks with her dog.",
    ),
    (
        "not_first_person",
        "If you want to be happy, you have to work for it. You get up early, you do your "
        "job, you take care of your family, and you never give up on yourself or your dreams.",
    ),
    (
        "no_life_fact",
        "I am a curious and caring person. I enjoy learning about new ideas and I always try "
        "to see the good in others. I think that every day is a gift and I try to make the "
        "most of it with a smile.",
    ),
]


@pytest.mark.parametrize(
    ("reason", "text"), PLANTED, ids=[f"{r}-{i}" for i, (r, _) in enumerate(PLANTED)]
)
def test_each_rule_fires_on_its_planted_case(reason, text):
    v = check_backstory(text)
    assert not v.accepted and v.reason == reason, v
    assert v.detail


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"])
def test_empty_or_whitespace_is_rejected_without_raising(text):
    v = check_backstory(text)
    assert not v.accepted and v.reason in ("too_short", "gibberish")
    assert check_consistency(text).reason in ("too_short", "gibberish")


@pytest.mark.parametrize("text", ["12345 678", "!!! ???", "😂😂😂", "…", "I"])
def test_odd_inputs_are_rejected_without_raising(text):
    assert not check_backstory(text).accepted
    assert all(isinstance(x, float) for x in text_quality(text).values())


def test_allow_fiction_skips_the_fiction_rule():
    text = (
        "I am a wizard and I grew up in a tower in the enchanted forest with my mother, "
        "who taught me to cast spells before I could read."
    )
    assert check_backstory(text).reason == "fiction"
    assert check_backstory(text, allow_fiction=True).accepted


def test_common_words_are_not_fiction():
    text = (
        "I'm 36, I grew up in Phoenix and I work as a nurse. My son loves Dungeons and "
        "Dragons, my wife was born in the United Kingdom, and I do magic tricks at parties."
    )
    assert check_backstory(text).accepted


def test_other_study_language():
    spanish = (
        "Me llamo Ana, tengo 45 años y nací en Guadalajara. Trabajo como enfermera en un "
        "hospital y tengo dos hijos. Los domingos comemos con mis padres."
    )
    assert check_backstory(spanish).reason == "not_english"
    assert check_backstory(spanish, language="es").accepted
    assert check_backstory(GOOD, language="es").reason == "wrong_language"
    assert check_backstory("Με λένε Μαρία και είμαι δασκάλα στην Αθήνα.", language="fr").reason == (
        "wrong_language"
    )


def test_interview_answers_need_no_life_fact_and_keep_contradictions():
    earlier = [Turn(INTERVIEW_QUESTIONS[0], "I'm 52 years old and I grew up in Texas.")]
    answers = [
        "Pretty moderate, I guess. I vote for whoever makes sense.",
        "Conservative, mostly. Low taxes, strong military, family values.",
        "My best friend Carla has been there for me since high school. She lives down the "
        "street and she drove me to the hospital when my daughter was born.",
        "Eating well is hard when you work long shifts. Fast food is right there and cheap.",
        "I don't know. I haven't thought about it much, to be honest with you.",
    ]
    for a in answers:
        assert check_consistency(a, earlier).accepted, a
    # The same vague answer as a whole backstory has no life fact.
    assert check_consistency(answers[4]).reason == "no_life_fact"
    assert check_consistency(answers[4], earlier, require_life_fact=True).reason == "no_life_fact"
    # Contradictions come first; the other rules still apply to answers.
    assert check_consistency("I am 34 years old and I love it here.", earlier).reason == (
        "contradiction"
    )
    assert check_consistency("As an AI, I cannot answer that.", earlier).reason == "frame_break"
    assert (
        check_consistency(
            "Nosotros vivimos en la casa de mi abuela con los perros.", earlier
        ).reason
        == "not_english"
    )
    third = (
        "He was born in Ohio and he worked at the mill. He married his wife in 1970 and "
        "they had two sons. He liked to fish and he went to church every Sunday with them."
    )
    assert check_consistency(third, earlier).reason == "not_first_person"
