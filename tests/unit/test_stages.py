"""Pure helpers of the stage functions."""

from __future__ import annotations

from silico.core.prompts import Verdict
from silico.pipeline.stages import Backstory, personas_of


def _b(i: int, text: str, accepted: bool = True) -> Backstory:
    return Backstory(
        f"b{i}", text, i, len(text.split()), 1, accepted, "", (Verdict(accepted, "", ""),)
    )


def test_personas_are_the_accepted_backstories_truncated_for_the_length_ablation():
    stories = [
        _b(0, "one two three four five six seven"),
        _b(1, "rejected story", False),
        _b(2, "a b"),
    ]
    assert [p.id for p in personas_of(stories)] == ["b0", "b2"]
    cut = personas_of(stories, truncate_words=5)
    assert [p.text for p in cut] == ["one two three four five", "a b"]
    assert stories[0].text == "one two three four five six seven"  # the stored story is untouched
