"""Persona conditioning: demographic questionnaire items and the QA / BIO / PORTRAY baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from silico.core.errors import ValidationError
from silico.core.prompts._backstory import qa_turn
from silico.core.prompts._items import LETTERS, Item, question_block
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


def qa_context(
    demographics: Mapping[str, str],
    options: Mapping[str, Sequence[str]] | None = None,
    order: Sequence[int] | None = None,
) -> str:
    """QA baseline: the demographic questions as multiple-choice items answered ``(X)``.

    The official format: each trait's question with its lettered options (the
    survey's own categories) and ``Answer: (X)``, the traits in ``order`` (a
    per-respondent shuffle). Without ``options`` a trait is answered with its
    label in words.

    Parameters
    ----------
    demographics : mapping of trait name -> category label (a catalogue
        category or the survey's own label)
    options : mapping of trait name -> the survey's categories, optional
    order : permutation of ``range(len(demographics))``, optional

    >>> print(qa_context({"party": "Republican"}, {"party": ["Democrat", "Republican"]}))
    Question: Generally speaking, do you think of yourself as a Democrat, a Republican, an Independent, or something else?
    (A) Democrat
    (B) Republican
    Answer with (A) or (B).
    Answer: (B)
    """
    pairs = _checked(demographics)
    if order is not None:
        if sorted(order) != list(range(len(pairs))):
            raise ValidationError("order", f"{list(order)} is not a permutation of the traits")
        pairs = [pairs[i] for i in order]
    turns = []
    for name, label in pairs:
        q = get_trait(name).question
        opts = list((options or {}).get(name, ()))
        if label in opts:
            letter = LETTERS[opts.index(label)]
            turns.append(f"{question_block(q, opts)} ({letter})")
        else:
            turns.append(qa_turn(q, label))
    return "\n\n".join(turns)


#: The BIO baseline's preamble (OpinionQA's steering format, which Anthology compares with).
BIO_PREAMBLE = (
    "Below you will be asked to provide a short description of your identity "
    "and then answer some questions."
)


def bio_context(demographics: Mapping[str, str]) -> str:
    """BIO baseline: its preamble, then first-person sentences ("I am a Republican.").

    >>> print(bio_context({"party": "Republican", "age": "18-29"}))
    Below you will be asked to provide a short description of your identity and then answer some questions.
    Description: I am a Republican. I am 18-29 years old.
    """
    sentences = " ".join(_sentence(n, label, 0) for n, label in _checked(demographics))
    return f"{BIO_PREAMBLE}\nDescription: {sentences}"


def portray_context(demographics: Mapping[str, str]) -> str:
    """PORTRAY baseline: the same facts in the second person ("You are a Republican.").

    >>> portray_context({"party": "Republican", "gender": "Female"})
    'You are a Republican. You are a woman.'
    """
    return " ".join(_sentence(n, label, 1) for n, label in _checked(demographics))


def baseline_context(
    method: str,
    demographics: Mapping[str, str],
    options: Mapping[str, Sequence[str]] | None = None,
    order: Sequence[int] | None = None,
) -> str:
    """The conditioning text of a baseline method (``"qa"``, ``"bio"`` or ``"portray"``).

    ``options`` and ``order`` shape the QA format (see :func:`qa_context`).
    """
    if method == "qa":
        return qa_context(demographics, options, order)
    builders = {"bio": bio_context, "portray": portray_context}
    if method not in builders:
        raise ValidationError("conditioning", f"{method!r} is not one of ['bio', 'portray', 'qa']")
    return builders[method](demographics)
