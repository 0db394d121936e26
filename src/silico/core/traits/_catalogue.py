"""The demographic trait catalogue and the mappings from its categories onto a survey's."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from silico.core.errors import NotFoundError, ValidationError

PREFER_NOT = "Prefer not to answer"


@dataclass(frozen=True)
class Trait:
    """A demographic trait as the persona questionnaire asks it.

    Parameters
    ----------
    name : str
        Catalogue key (``"age"``).
    question : str
        Question text of the demographic item.
    categories : tuple of str
        The fine categories offered (``PREFER_NOT`` is appended when asked).
    edges : tuple of float, optional
        For interval traits (age, income): the lower edge of each category and
        the upper edge of the last, ``len(categories) + 1`` numbers. Lets
        :func:`interval_mapping` map onto any survey's bands.
    bio : tuple of str
        Phrase per category completing "I am" / "You are", for BIO/PORTRAY
        conditioning (see :mod:`silico.core.prompts`).
    first_person, second_person : tuple of str
        Whole sentences per category ("I am a union member.", "You are a union
        member."), for a trait a study defines itself (:func:`define_trait`);
        they take precedence over ``bio``.
    """

    name: str
    question: str
    categories: tuple[str, ...]
    edges: tuple[float, ...] = ()
    bio: tuple[str, ...] = ()
    first_person: tuple[str, ...] = ()
    second_person: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.edges and len(self.edges) != len(self.categories) + 1:
            raise ValidationError(f"traits.{self.name}.edges", "need len(categories) + 1 edges")
        if self.bio and len(self.bio) != len(self.categories):
            raise ValidationError(f"traits.{self.name}.bio", "one phrase per category")
        for f in ("first_person", "second_person"):
            if getattr(self, f) and len(getattr(self, f)) != len(self.categories):
                raise ValidationError(f"traits.{self.name}.{f}", "one sentence per category")

    @property
    def options(self) -> tuple[str, ...]:
        """Options as asked: the categories, then "Prefer not to answer"."""
        return (*self.categories, PREFER_NOT)


_INF = float("inf")

CATALOGUE: dict[str, Trait] = {
    t.name: t
    for t in (
        Trait(
            "age",
            "What is your age?",
            ("18-24", "25-29", "30-39", "40-49", "50-64", "65 or older"),
            edges=(18, 25, 30, 40, 50, 65, 100),
            bio=(
                "between 18 and 24 years old",
                "between 25 and 29 years old",
                "30 to 39 years old",
                "40 to 49 years old",
                "between 50 and 64 years old",
                "65 or older",
            ),
        ),
        Trait(
            "gender",
            "What is your gender?",
            ("Male", "Female", "Other"),
            bio=("a man", "a woman", "neither a man nor a woman"),
        ),
        Trait(
            "race",
            "What is your race or ethnicity?",
            ("White", "Black", "Hispanic", "Asian", "Native American", "Other or mixed"),
            bio=(
                "White",
                "Black",
                "Hispanic",
                "Asian",
                "Native American",
                "of mixed or other race",
            ),
        ),
        Trait(
            "education",
            "What is the highest level of education you have completed?",
            (
                "Less than high school",
                "High school graduate",
                "Some college, no degree",
                "Associate's degree",
                "Bachelor's degree",
                "Postgraduate degree",
            ),
            bio=(
                "without a high school diploma",
                "a high school graduate",
                "someone who went to college without finishing a degree",
                "someone with an associate's degree",
                "a college graduate with a bachelor's degree",
                "someone with a postgraduate degree",
            ),
        ),
        Trait(
            "income",
            "What was your total family income last year?",
            (
                "Less than $10,000",
                "$10,000 to $19,999",
                "$20,000 to $29,999",
                "$30,000 to $49,999",
                "$50,000 to $74,999",
                "$75,000 to $99,999",
                "$100,000 to $149,999",
                "$150,000 or more",
            ),
            edges=(0, 10e3, 20e3, 30e3, 50e3, 75e3, 100e3, 150e3, 500e3),
            bio=(
                "from a household earning less than $10,000 a year",
                "from a household earning $10,000 to $19,999 a year",
                "from a household earning $20,000 to $29,999 a year",
                "from a household earning $30,000 to $49,999 a year",
                "from a household earning $50,000 to $74,999 a year",
                "from a household earning $75,000 to $99,999 a year",
                "from a household earning $100,000 to $149,999 a year",
                "from a household earning $150,000 or more a year",
            ),
        ),
        Trait(
            "region",
            "In which region of the United States do you live?",
            ("Northeast", "Midwest", "South", "West"),
            bio=(
                "living in the Northeast",
                "living in the Midwest",
                "living in the South",
                "living in the West",
            ),
        ),
        Trait(
            "religion",
            "What is your present religion, if any?",
            ("Protestant", "Catholic", "Jewish", "Muslim", "Other religion", "No religion"),
            bio=(
                "Protestant",
                "Catholic",
                "Jewish",
                "Muslim",
                "of another religion",
                "not religious",
            ),
        ),
        Trait(
            "party",
            "Generally speaking, do you think of yourself as a Democrat, a Republican, "
            "an Independent, or something else?",
            ("Democrat", "Republican", "Independent", "Something else"),
            bio=("a Democrat", "a Republican", "an Independent", "a supporter of another party"),
        ),
        Trait(
            "ideology",
            "In general, how would you describe your political viewpoint?",
            ("Very liberal", "Liberal", "Moderate", "Conservative", "Very conservative"),
            bio=("very liberal", "liberal", "moderate", "conservative", "very conservative"),
        ),
    )
}

TRAIT_NAMES = tuple(CATALOGUE)


def get_trait(name: str) -> Trait:
    """Look up a catalogue trait by name."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise NotFoundError("trait", name) from None


#: The most categories a defined trait may have: each gets a letter (A..Z) and
#: "Prefer not to answer" takes the last one.
MAX_CATEGORIES = 25
#: Trait names end up in item ids, report columns and spec references.
TRAIT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def _texts(field: str, xs: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(xs, str):
        raise ValidationError(field, f"must be a list of {what}, not one string")
    out = tuple(xs)
    if any(not isinstance(x, str) or not x.strip() for x in out):
        raise ValidationError(field, f"{what} must be non-empty text")
    return out


def check_categories(categories: Sequence[str]) -> tuple[str, ...]:
    """A defined trait's categories: 2 to :data:`MAX_CATEGORIES` distinct labels."""
    cats = _texts("categories", categories, "categories")
    if len(cats) < 2:
        raise ValidationError("categories", "need at least 2 categories")
    if len(cats) > MAX_CATEGORIES:
        raise ValidationError("categories", f"at most {MAX_CATEGORIES} categories")
    # Labels differing only in case or spacing would read as one option to a model.
    seen: dict[str, str] = {}
    for c in cats:
        key = " ".join(c.split()).casefold()
        if key == PREFER_NOT.casefold():
            raise ValidationError(
                "categories", f"{c!r} is added to every question; map such values to null"
            )
        if key in seen:
            raise ValidationError("categories", f"{c!r} repeats {seen[key]!r}")
        seen[key] = c
    return cats


def check_sentences(field: str, sentences: Sequence[str], n: int) -> tuple[str, ...]:
    """A defined trait's baseline sentences: one per category."""
    out = _texts(field, sentences, "sentences")
    if len(out) != n:
        raise ValidationError(field, f"need one sentence per category ({n}), got {len(out)}")
    return out


def define_trait(
    name: str,
    question: str,
    categories: Sequence[str],
    first_person: Sequence[str],
    second_person: Sequence[str],
) -> Trait:
    """A trait a study defines itself: its question, categories and baseline sentences.

    Its categories are the survey's own (see :func:`identity_scheme`). A
    catalogue name is allowed: the definition then stands for that trait in
    whatever holds it (a study's data, one request), never in the catalogue,
    which is never changed. Errors name the argument (``"categories"``);
    callers prefix their own path.

    >>> t = define_trait("union", "Are you a member of a labor union?", ["Yes", "No"],
    ...     ["I am in a union.", "I am not in a union."],
    ...     ["You are in a union.", "You are not in a union."])
    >>> t.options
    ('Yes', 'No', 'Prefer not to answer')
    """
    if not isinstance(name, str) or not TRAIT_NAME.match(name):
        raise ValidationError(
            "name", f"{name!r} is not a trait name (a letter, then letters, digits or _)"
        )
    if not isinstance(question, str) or not question.strip():
        raise ValidationError("question", "the question the personas are asked must not be empty")
    cats = check_categories(categories)
    return Trait(
        name,
        " ".join(question.split()),
        cats,
        first_person=check_sentences("first_person", first_person, len(cats)),
        second_person=check_sentences("second_person", second_person, len(cats)),
    )


@dataclass(frozen=True)
class Scheme:
    """A survey's (coarser) categories for one trait and how the fine ones map onto them.

    Parameters
    ----------
    trait : str
        Catalogue trait name.
    categories : tuple of str
        The survey's categories, as the human data label them.
    matrix : ndarray, shape (n_fine, n_coarse)
        ``matrix[i, j]`` is the share of fine category ``i`` that belongs to
        coarse category ``j``; rows sum to 1, or to 0 for a fine category the
        survey has no place for (its mass is dropped, like "Prefer not to
        answer"). Integer mappings are 0/1; interval mappings split a fine band
        across coarse ones by overlap.
    fine : Trait, optional
        The trait whose categories the rows are, when a study defines it
        (:func:`identity_scheme`); None for the catalogue trait ``trait``.
    """

    trait: str
    categories: tuple[str, ...]
    matrix: np.ndarray
    fine: Trait | None = None

    @property
    def fine_trait(self) -> Trait:
        """The trait as the personas are asked it: the study's definition or the catalogue's."""
        return self.fine if self.fine is not None else get_trait(self.trait)

    def __post_init__(self) -> None:
        if self.fine is not None and self.fine.name != self.trait:
            raise ValidationError(f"schemes.{self.trait}", f"defined over trait {self.fine.name!r}")
        t = self.fine_trait
        if self.matrix.shape != (len(t.categories), len(self.categories)):
            raise ValidationError(
                f"schemes.{self.trait}.matrix",
                f"shape {self.matrix.shape} != ({len(t.categories)}, {len(self.categories)})",
            )
        rows = self.matrix.sum(axis=1)
        if np.any(self.matrix < 0) or not np.all(np.isclose(rows, 1.0) | np.isclose(rows, 0.0)):
            raise ValidationError(f"schemes.{self.trait}.matrix", "rows must sum to 1 (or 0)")

    def index(self, label: str) -> int:
        """Index of a coarse category label (exact match)."""
        try:
            return self.categories.index(label)
        except ValueError:
            raise ValidationError(
                f"traits.{self.trait}", f"{label!r} is not one of {list(self.categories)}"
            ) from None


def identity_scheme(trait: Trait) -> Scheme:
    """The scheme of a trait whose categories are the survey's own: each maps onto itself.

    >>> identity_scheme(get_trait("gender")).matrix.tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    n = len(trait.categories)
    return Scheme(trait.name, trait.categories, np.eye(n), fine=trait)


def label_mapping(trait: str, groups: Mapping[str, Sequence[str]]) -> Scheme:
    """Build a :class:`Scheme` that sums fine categories into named coarse groups.

    Parameters
    ----------
    trait : str
        Catalogue trait name.
    groups : mapping of coarse label -> sequence of fine category labels
        A fine category may appear in at most one group; one left out has no
        place in the survey and its mass is dropped.

    Examples
    --------
    >>> s = label_mapping("gender", {"Male": ["Male"], "Female": ["Female"], "Other": ["Other"]})
    >>> s.matrix.tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    t = get_trait(trait)
    m = np.zeros((len(t.categories), len(groups)))
    for j, fines in enumerate(groups.values()):
        for f in fines:
            if f not in t.categories:
                raise ValidationError(f"schemes.{trait}", f"{f!r} is not a category of {trait}")
            m[t.categories.index(f), j] = 1.0
    twice = [c for i, c in enumerate(t.categories) if m[i].sum() > 1.0]
    if twice:
        raise ValidationError(f"schemes.{trait}", f"fine categories in several groups: {twice}")
    return Scheme(trait, tuple(groups), m)


def interval_mapping(trait: str, coarse_edges: Sequence[float], labels: Sequence[str]) -> Scheme:
    """Map an interval trait's fine bands onto coarse bands by overlap.

    A fine band :math:`[a, b)` contributes to coarse band :math:`[c, d)` the share

    .. math:: \\frac{|[a, b) \\cap [c, d)|}{b - a},

    i.e. the mass is assumed uniform within a band. Bands that line up give 0/1
    weights (plain summing); a band that straddles a boundary is split.

    Parameters
    ----------
    trait : str
        An interval trait of the catalogue (with ``edges``).
    coarse_edges : sequence of float, length C + 1
        Lower edges of the coarse bands and the upper edge of the last; they must
        cover the fine range.
    labels : sequence of str, length C

    Examples
    --------
    >>> s = interval_mapping("age", [18, 30, 50, 65, 100], ["18-29", "30-49", "50-64", "65+"])
    >>> s.matrix.argmax(axis=1).tolist()
    [0, 0, 1, 1, 2, 3]
    """
    t = get_trait(trait)
    if not t.edges:
        raise ValidationError(f"schemes.{trait}", "not an interval trait")
    if len(coarse_edges) != len(labels) + 1:
        raise ValidationError(f"schemes.{trait}.edges", "need len(labels) + 1 edges")
    ce = np.asarray(coarse_edges, dtype=float)
    if np.any(np.diff(ce) <= 0):
        raise ValidationError(f"schemes.{trait}.edges", "must increase strictly")
    fe = np.asarray(t.edges, dtype=float)
    if ce[0] > fe[0] or ce[-1] < fe[-1]:
        raise ValidationError(f"schemes.{trait}.edges", f"must cover [{fe[0]}, {fe[-1]}]")
    lo = np.maximum(fe[:-1, None], ce[None, :-1])
    hi = np.minimum(fe[1:, None], ce[None, 1:])
    m = np.clip(hi - lo, 0.0, None) / (fe[1:] - fe[:-1])[:, None]
    return Scheme(trait, tuple(labels), m)


def coarsen(probs: Sequence[float], scheme: Scheme, has_prefer_not: bool = True) -> np.ndarray:
    """A persona's distribution over the fine options mapped onto a scheme's categories.

    "Prefer not to answer" (the last option when ``has_prefer_not``) and fine
    categories the scheme has no place for are dropped and the rest
    renormalised; an all-zero remainder gives the uniform distribution over the
    coarse categories.

    .. math:: q = \\frac{p_{1:n} M}{\\mathbf{1}^\\top (p_{1:n} M)}

    Parameters
    ----------
    probs : sequence of float, shape (n_fine,) or (n_fine + 1,)
    scheme : Scheme
    has_prefer_not : bool

    Returns
    -------
    ndarray, shape (n_coarse,)

    Examples
    --------
    >>> s = label_mapping("party", {"Dem": ["Democrat"], "Rep": ["Republican"],
    ...     "Ind": ["Independent", "Something else"]})
    >>> coarsen([0.2, 0.2, 0.1, 0.1, 0.4], s).round(3).tolist()
    [0.333, 0.333, 0.333]
    """
    p = np.asarray(probs, dtype=float)
    n_fine = scheme.matrix.shape[0]
    expected = n_fine + 1 if has_prefer_not else n_fine
    if p.shape != (expected,):
        raise ValidationError(
            f"traits.{scheme.trait}", f"expected {expected} probabilities, got {p.shape}"
        )
    if np.any(p < 0) or not np.all(np.isfinite(p)):
        raise ValidationError(f"traits.{scheme.trait}", "probabilities must be finite and >= 0")
    q = p[:n_fine] @ scheme.matrix
    total = q.sum()
    if total <= 0:
        return np.full(q.shape[0], 1.0 / q.shape[0])
    return np.asarray(q / total)
