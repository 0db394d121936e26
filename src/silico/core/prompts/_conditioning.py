"""Persona conditioning: demographic questionnaire items and the QA / BIO / PORTRAY baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from silico.core.errors import ValidationError
from silico.core.prompts._backstory import qa_turn
from silico.core.prompts._items import Item
from silico.core.traits import CATALOGUE, get_trait

#: Conditioning methods: Anthology backstories and the three rule-based baselines.
CONDITIONING_METHODS = ("anthology", "qa", "bio", "portray")


def demographic_item(trait: str) -> Item:
    """The demographic questionnaire item for a catalogue trait (with "Prefer not to answer").

    >>> demographic_item("gender").options
    ('Male', 'Female', 'Other', 'Prefer not to answer')
    """
    t = get_trait(trait)
    return Item(id=f"demographic.{t.name}", question=t.question, options=t.options)


def demographic_items(traits: Sequence[str] = tuple(CATALOGUE)) -> list[Item]:
    """The demographic questionnaire: one item per trait, in the given order."""
    return [demographic_item(t) for t in traits]


def _checked(demographics: Mapping[str, str]) -> list[tuple[str, int]]:
    out = []
    for name, category in demographics.items():
        t = get_trait(name)
        if category not in t.categories:
            raise ValidationError(
                f"demographics.{name}", f"{category!r} is not one of {list(t.categories)}"
            )
        out.append((name, t.categories.index(category)))
    if not out:
        raise ValidationError("demographics", "needs at least one trait")
    return out


def qa_context(demographics: Mapping[str, str]) -> str:
    """QA baseline: the demographic questions answered as Q/A pairs.

    Parameters
    ----------
    demographics : mapping of trait name -> fine category label of the catalogue

    >>> print(qa_context({"party": "Republican"}))
    Question: Generally speaking, do you think of yourself as a Democrat, a Republican, an Independent, or something else?
    <BLANKLINE>
    Answer: Republican
    """
    return "\n\n".join(
        qa_turn(get_trait(n).question, get_trait(n).categories[i])
        for n, i in _checked(demographics)
    )


def bio_context(demographics: Mapping[str, str]) -> str:
    """BIO baseline: first-person sentences ("I am a Republican.").

    >>> bio_context({"party": "Republican", "region": "South"})
    'I am a Republican. I am living in the South.'
    """
    return " ".join(f"I am {get_trait(n).bio[i]}." for n, i in _checked(demographics))


def portray_context(demographics: Mapping[str, str]) -> str:
    """PORTRAY baseline: the same facts in the second person ("You are a Republican.").

    >>> portray_context({"party": "Republican"})
    'You are a Republican.'
    """
    return " ".join(f"You are {get_trait(n).bio[i]}." for n, i in _checked(demographics))


def baseline_context(method: str, demographics: Mapping[str, str]) -> str:
    """The conditioning text of a baseline method (``"qa"``, ``"bio"`` or ``"portray"``)."""
    builders = {"qa": qa_context, "bio": bio_context, "portray": portray_context}
    if method not in builders:
        raise ValidationError("conditioning", f"{method!r} is not one of {sorted(builders)}")
    return builders[method](demographics)
