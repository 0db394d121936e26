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


#: Sentences for a survey's own category labels (which need not be catalogue
#: categories: "18-29", "Under $30,000"), first and second person.
_LABEL_SENTENCES = {
    "age": ("I am {} years old.", "You are {} years old."),
    "gender": ("My gender is {}.", "Your gender is {}."),
    "race": ("My race or ethnicity is {}.", "Your race or ethnicity is {}."),
    "education": (
        "My highest level of education is: {}.",
        "Your highest level of education is: {}.",
    ),
    "income": ("My family income is {}.", "Your family income is {}."),
    "region": ("I live in the {}.", "You live in the {}."),
    "religion": ("My religion is: {}.", "Your religion is: {}."),
    "party": ("My party affiliation is: {}.", "Your party affiliation is: {}."),
    "ideology": ("My political viewpoint is: {}.", "Your political viewpoint is: {}."),
}


def _checked(demographics: Mapping[str, str]) -> list[tuple[str, str]]:
    out = []
    for name, label in demographics.items():
        get_trait(name)
        if not isinstance(label, str) or not label.strip():
            raise ValidationError(f"demographics.{name}", "needs a non-empty category label")
        out.append((name, label.strip()))
    if not out:
        raise ValidationError("demographics", "needs at least one trait")
    return out


def _sentence(name: str, label: str, person: int) -> str:
    t = get_trait(name)
    if label in t.categories:
        return f"{('I am', 'You are')[person]} {t.bio[t.categories.index(label)]}."
    return _LABEL_SENTENCES[name][person].format(label.lower() if name == "gender" else label)


def qa_context(demographics: Mapping[str, str]) -> str:
    """QA baseline: the demographic questions answered as Q/A pairs.

    Parameters
    ----------
    demographics : mapping of trait name -> category label (a catalogue
        category or the survey's own label)

    >>> print(qa_context({"party": "Republican"}))
    Question: Generally speaking, do you think of yourself as a Democrat, a Republican, an Independent, or something else?
    <BLANKLINE>
    Answer: Republican
    """
    return "\n\n".join(qa_turn(get_trait(n).question, label) for n, label in _checked(demographics))


def bio_context(demographics: Mapping[str, str]) -> str:
    """BIO baseline: first-person sentences ("I am a Republican.").

    >>> bio_context({"party": "Republican", "age": "18-29"})
    'I am a Republican. I am 18-29 years old.'
    """
    return " ".join(_sentence(n, label, 0) for n, label in _checked(demographics))


def portray_context(demographics: Mapping[str, str]) -> str:
    """PORTRAY baseline: the same facts in the second person ("You are a Republican.").

    >>> portray_context({"party": "Republican", "gender": "Female"})
    'You are a Republican. You are a woman.'
    """
    return " ".join(_sentence(n, label, 1) for n, label in _checked(demographics))


def baseline_context(method: str, demographics: Mapping[str, str]) -> str:
    """The conditioning text of a baseline method (``"qa"``, ``"bio"`` or ``"portray"``)."""
    builders = {"qa": qa_context, "bio": bio_context, "portray": portray_context}
    if method not in builders:
        raise ValidationError("conditioning", f"{method!r} is not one of {sorted(builders)}")
    return builders[method](demographics)
