"""Multiple-choice items, option-order permutations and their prompt text."""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field

from silico.core.errors import ValidationError

LETTERS = string.ascii_uppercase


@dataclass(frozen=True)
class Item:
    """One multiple-choice question with ordinal options.

    Parameters
    ----------
    id : str
        Stable identifier (a survey variable name such as ``"CC18_422a"``).
    question : str
        Question text shown to the persona.
    options : tuple of str, length K
        Substantive options in canonical ordinal order (position 1..K).
    codes : tuple of int, length K, optional
        The survey's codes for the options, same order; defaults to 1..K.
    """

    id: str
    question: str
    options: tuple[str, ...]
    codes: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.id:
            raise ValidationError("item.id", "must not be empty")
        if not self.question.strip():
            raise ValidationError(f"items[{self.id}].question", "must not be empty")
        if len(self.options) < 2:
            raise ValidationError(f"items[{self.id}].options", "needs at least 2 options")
        if len(self.options) > len(LETTERS):
            raise ValidationError(f"items[{self.id}].options", f"at most {len(LETTERS)} options")
        if any(not o.strip() for o in self.options):
            raise ValidationError(f"items[{self.id}].options", "options must not be empty")
        if not self.codes:
            object.__setattr__(self, "codes", tuple(range(1, len(self.options) + 1)))
        if len(self.codes) != len(self.options):
            raise ValidationError(
                f"items[{self.id}].codes",
                f"{len(self.codes)} codes for {len(self.options)} options",
            )
        if len(set(self.codes)) != len(self.codes):
            raise ValidationError(f"items[{self.id}].codes", "codes must be distinct")

    @property
    def k(self) -> int:
        """Number of substantive options."""
        return len(self.options)

    def position_of_code(self, code: int) -> int:
        """Ordinal position (1..K) of a survey code; raises if the code is not an option."""
        try:
            return self.codes.index(code) + 1
        except ValueError:
            raise ValidationError(
                f"items[{self.id}]", f"code {code} is not one of the options {list(self.codes)}"
            ) from None


@dataclass(frozen=True)
class Presentation:
    """An item as shown: options in display order, each behind a letter.

    ``order[j]`` is the canonical option index (0-based) displayed at letter ``j``.
    """

    item: Item
    order: tuple[int, ...]

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(LETTERS[: len(self.order)])

    @property
    def displayed_options(self) -> tuple[str, ...]:
        return tuple(self.item.options[i] for i in self.order)

    def canonical_index(self, letter_index: int) -> int:
        """Canonical (0-based) option index of the option shown at ``letter_index``."""
        return self.order[letter_index]

    def to_canonical(self, displayed: Sequence[float]) -> list[float]:
        """Reorder per-letter values (display order) into canonical option order.

        >>> p = present(Item("q", "Q?", ("a", "b", "c")), (2, 1, 0))
        >>> p.to_canonical([0.7, 0.2, 0.1])
        [0.1, 0.2, 0.7]
        """
        if len(displayed) != len(self.order):
            raise ValidationError("displayed", f"expected {len(self.order)} values")
        out = [0.0] * len(self.order)
        for j, value in enumerate(displayed):
            out[self.order[j]] = float(value)
        return out


def identity_order(k: int) -> tuple[int, ...]:
    """The canonical option order ``(0, 1, ..., k-1)``."""
    return tuple(range(k))


def reversed_order(k: int) -> tuple[int, ...]:
    """The reversed option order, the released Anthology code's one alternative."""
    return tuple(range(k - 1, -1, -1))


def present(item: Item, order: Sequence[int] | None = None) -> Presentation:
    """Show ``item`` with options in ``order`` (a permutation of ``range(K)``).

    Parameters
    ----------
    item : Item
    order : sequence of int, optional
        Canonical option index per displayed position; identity when omitted.
    """
    o = identity_order(item.k) if order is None else tuple(int(i) for i in order)
    if sorted(o) != list(range(item.k)):
        raise ValidationError(
            f"items[{item.id}].order", f"{list(o)} is not a permutation of 0..{item.k - 1}"
        )
    return Presentation(item, o)


def answer_instruction(n: int) -> str:
    """``"Answer with (A), (B), or (C)."`` for ``n`` options.

    >>> answer_instruction(2)
    'Answer with (A) or (B).'
    >>> answer_instruction(4)
    'Answer with (A), (B), (C), or (D).'
    """
    labels = [f"({c})" for c in LETTERS[:n]]
    if n == 2:
        return f"Answer with {labels[0]} or {labels[1]}."
    return "Answer with " + ", ".join(labels[:-1]) + f", or {labels[-1]}."


def question_block(question: str, options: Sequence[str]) -> str:
    """The question, its lettered options and the answer instruction, ending in ``Answer:``.

    >>> print(question_block("Do you agree?", ["Yes", "No"]))
    Question: Do you agree?
    (A) Yes
    (B) No
    Answer with (A) or (B).
    Answer:
    """
    lines = [f"Question: {question.strip()}"]
    lines += [f"({LETTERS[j]}) {opt}" for j, opt in enumerate(options)]
    lines.append(answer_instruction(len(options)))
    lines.append("Answer:")
    return "\n".join(lines)


def letter_word_options(options: Sequence[str]) -> bool:
    """Whether an option begins with a word that is also an option letter ("A lot", "I agree").

    After such an option the model's token ``" A"`` may be the article, not the
    letter, so letter scores must not be read from a bare ``A``.

    >>> letter_word_options(["A lot", "Some", "None"]), letter_word_options(["Agree", "Disagree"])
    (True, False)
    """
    letters = set(LETTERS[: len(options)])
    return any((o.split() or [""])[0] in letters for o in options)


def survey_prompt(context: str, presentation: Presentation, open_paren: bool = False) -> str:
    """A persona's prompt for one item: conditioning context, blank line, question block.

    The context comes first so that every prompt of one persona shares it as a
    prefix (the serving stack computes it once). ``open_paren`` ends the
    prompt in ``"Answer: ("`` so that the next token is the letter itself
    (logprob scoring always does; it also keeps "A lot" from reading as A).
    """
    block = question_block(presentation.item.question, presentation.displayed_options)
    if open_paren:
        block += " ("
    context = context.rstrip()
    return f"{context}\n\n{block}" if context else block


#: The official in-series instruction, before every question after the first.
SERIES_INSTRUCTION = "Please answer the following question keeping in mind your previous answers."


def series_turn(presentation: Presentation, letter: str) -> str:
    """One answered question of an in-series context: the block and ``(X)``.

    >>> print(series_turn(present(Item("q", "Q?", ("Yes", "No"))), "B"))
    Question: Q?
    (A) Yes
    (B) No
    Answer with (A) or (B).
    Answer: (B)
    """
    block = question_block(presentation.item.question, presentation.displayed_options)
    return f"{block} ({letter})"


def series_context(context: str, answered: Sequence[str]) -> str:
    """The context of the next in-series question: persona context, earlier answered
    questions, and the instruction to keep them in mind (none before the first)."""
    if not answered:
        return context
    return "\n\n".join([context.rstrip(), *answered, SERIES_INSTRUCTION])
