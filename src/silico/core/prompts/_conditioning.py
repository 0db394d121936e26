"""Persona conditioning: demographic questionnaire items and the QA / BIO / PORTRAY baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from silico.core.errors import ValidationError
from silico.core.prompts._backstory import qa_turn
from silico.core.prompts._items import LETTERS, Item, question_block
from silico.core.traits import CATALOGUE, Trait, get_trait

#: Conditioning methods: Anthology backstories and the three rule-based baselines.
CONDITIONING_METHODS = ("anthology", "qa", "bio", "portray")


def demographic_item(trait: str | Trait) -> Item:
    """The demographic questionnaire item for a trait (with "Prefer not to answer"):
    a catalogue name, or a :class:`Trait` (one a study defines itself).

    >>> demographic_item("gender").options
    ('Male', 'Female', 'Other', 'Prefer not to answer')
    """
    t = trait if isinstance(trait, Trait) else get_trait(trait)
    return Item(id=f"demographic.{t.name}", question=t.question, options=t.options)


def demographic_items(traits: Sequence[str | Trait] = tuple(CATALOGUE)) -> list[Item]:
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


def _checked(
    demographics: Mapping[str, str], traits: Mapping[str, Trait] | None
) -> list[tuple[Trait, str]]:
    out = []
    for name, label in demographics.items():
        t = (traits or {}).get(name) or get_trait(name)
        if not isinstance(label, str) or not label.strip():
            raise ValidationError(f"demographics.{name}", "needs a non-empty category label")
        out.append((t, label.strip()))
    if not out:
        raise ValidationError("demographics", "needs at least one trait")
    return out


def _sentence(t: Trait, label: str, person: int) -> str:
    own = (t.first_person, t.second_person)[person]
    if own:
        # A defined trait's categories are the survey's: every label has its sentence.
        if label not in t.categories:
            raise ValidationError(
                f"demographics.{t.name}", f"{label!r} is not one of {list(t.categories)}"
            )
        return own[t.categories.index(label)]
    if label in t.categories:
        return f"{('I am', 'You are')[person]} {t.bio[t.categories.index(label)]}."
    return _LABEL_SENTENCES[t.name][person].format(label.lower() if t.name == "gender" else label)


def qa_context(
    demographics: Mapping[str, str],
    options: Mapping[str, Sequence[str]] | None = None,
    order: Sequence[int] | None = None,
    traits: Mapping[str, Trait] | None = None,
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
    traits : mapping of trait name -> Trait, optional
        The study's own trait definitions (their question); other names are
        catalogue traits.

    >>> print(qa_context({"party": "Republican"}, {"party": ["Democrat", "Republican"]}))
    Question: Generally speaking, do you think of yourself as a Democrat, a Republican, an Independent, or something else?
    (A) Democrat
    (B) Republican
    Answer with (A) or (B).
    Answer: (B)
    """
    pairs = _checked(demographics, traits)
    if order is not None:
        if sorted(order) != list(range(len(pairs))):
            raise ValidationError("order", f"{list(order)} is not a permutation of the traits")
        pairs = [pairs[i] for i in order]
    turns = []
    for t, label in pairs:
        q = t.question
        opts = list((options or {}).get(t.name, ()))
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


def bio_context(demographics: Mapping[str, str], traits: Mapping[str, Trait] | None = None) -> str:
    """BIO baseline: its preamble, then first-person sentences ("I am a Republican.");
    a trait in ``traits`` (the study's own definitions) uses its ``first_person`` sentences.

    >>> print(bio_context({"party": "Republican", "age": "18-29"}))
    Below you will be asked to provide a short description of your identity and then answer some questions.
    Description: I am a Republican. I am 18-29 years old.
    """
    sentences = " ".join(_sentence(t, label, 0) for t, label in _checked(demographics, traits))
    return f"{BIO_PREAMBLE}\nDescription: {sentences}"


def portray_context(
    demographics: Mapping[str, str], traits: Mapping[str, Trait] | None = None
) -> str:
    """PORTRAY baseline: the same facts in the second person ("You are a Republican.");
    a trait in ``traits`` uses its ``second_person`` sentences.

    >>> portray_context({"party": "Republican", "gender": "Female"})
    'You are a Republican. You are a woman.'
    """
    return " ".join(_sentence(t, label, 1) for t, label in _checked(demographics, traits))


def baseline_context(
    method: str,
    demographics: Mapping[str, str],
    options: Mapping[str, Sequence[str]] | None = None,
    order: Sequence[int] | None = None,
    traits: Mapping[str, Trait] | None = None,
) -> str:
    """The conditioning text of a baseline method (``"qa"``, ``"bio"`` or ``"portray"``).

    ``options`` and ``order`` shape the QA format (see :func:`qa_context`);
    ``traits`` are the study's own trait definitions (the rest are the catalogue's).
    """
    if method == "qa":
        return qa_context(demographics, options, order, traits)
    builders = {"bio": bio_context, "portray": portray_context}
    if method not in builders:
        raise ValidationError("conditioning", f"{method!r} is not one of ['bio', 'portray', 'qa']")
    return builders[method](demographics, traits)
