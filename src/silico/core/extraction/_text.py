"""Options from sampled text answers."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from silico.core.errors import ValidationError
from silico.core.prompts import LETTERS, letter_word_options


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s$,']", " ", s.lower())).strip()


def parse_text_answer(text: str, options: Sequence[str]) -> int | None:
    """The option a sampled answer chose (index into ``options``), or ``None``.

    The answer may name a letter (``"(B)"``, ``"B)"``, ``"B."``, ``"B"`` at the
    start) and/or quote an option's text. It is non-compliant (``None``) when
    it names no option, several letters, several option texts, or a letter and
    a different option's text.

    Parameters
    ----------
    text : str
        The generated answer (up to the first newline is considered).
    options : sequence of str
        Options in display order.

    Examples
    --------
    >>> parse_text_answer(" (B) Somewhat agree", ["Agree", "Somewhat agree"])
    1
    >>> parse_text_answer(" I would say agree", ["Agree", "Disagree"])
    0
    >>> parse_text_answer(" (A) Disagree", ["Agree", "Disagree"]) is None
    True

    An option that begins with the article "A" is read as text, not as letter A:

    >>> parse_text_answer(" A little", ["A lot", "A little", "Not at all"])
    1
    """
    k = len(options)
    if k < 1 or k > len(LETTERS):
        raise ValidationError("options", f"need 1..{len(LETTERS)} options")
    line = text.strip().split("\n")[0].strip()
    if not line:
        return None
    valid = LETTERS[:k]
    letters = set(re.findall(rf"\(([{valid}])\)", line))
    if not letters:
        m = re.match(rf"^([{valid}])(?:[).:,]|\s|$)", line)
        # "A lot more" is the option's text, not the letter A followed by words.
        article = letter_word_options(options) and any(
            _norm(line).startswith(_norm(o)) for o in options
        )
        if m and not article:
            letters = {m.group(1)}
    letter_choice = None
    if len(letters) > 1:
        return None
    if letters:
        letter_choice = LETTERS.index(letters.pop())
    body = _norm(re.sub(rf"\(([{valid}])\)", " ", line))
    # Longest options first so "somewhat agree" is not also read as "agree".
    matches: list[int] = []
    taken = body
    for j in sorted(range(k), key=lambda i: -len(options[i])):
        opt = _norm(options[j])
        if opt and re.search(rf"(?<!\w){re.escape(opt)}(?!\w)", taken):
            matches.append(j)
            taken = re.sub(rf"(?<!\w){re.escape(opt)}(?!\w)", " ", taken)
    if len(matches) > 1:
        return None
    text_choice = matches[0] if matches else None
    if letter_choice is not None and text_choice is not None and letter_choice != text_choice:
        return None
    return letter_choice if letter_choice is not None else text_choice


def sampled_distribution(choices: Sequence[int | None], k: int) -> tuple[np.ndarray, float]:
    """Distribution over ``k`` options from parsed samples, and the compliant share.

    Non-compliant samples (``None``) are their own bucket: they are left out of
    the distribution and reported as ``1 - compliance``. No compliant sample
    gives the uniform distribution with compliance 0.

    >>> sampled_distribution([0, 0, 1, None], 2)
    (array([0.66666667, 0.33333333]), 0.75)
    """
    counts = np.zeros(k)
    n = 0
    for c in choices:
        n += 1
        if c is None:
            continue
        if not 0 <= c < k:
            raise ValidationError("choices", f"choice {c} outside 0..{k - 1}")
        counts[c] += 1
    good = counts.sum()
    if good == 0:
        return np.full(k, 1.0 / k), 0.0
    return counts / good, float(good / n)
