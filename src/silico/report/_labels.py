"""How the report names items and options: by their words, wrapped, never cut mid-label."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

# Where a question's shared lead-in may end: a sentence, a colon or a dash.
_BREAK = re.compile(r"(?<=[.?!:])\s+|\s+--?\s+|\s+[–—]\s+")


def clean(text: str) -> str:
    """Whitespace collapsed (codebook labels carry double spaces)."""
    return " ".join(str(text).split())


def common_stem(questions: Sequence[str]) -> str:
    """The lead-in every question shares ('Do you agree or disagree ...?'), or ''.

    Only whole sentences (or a part ending in ':' or a dash) count, and only
    when at least two questions share it and every one says more after it.

    >>> common_stem(["Do you agree? Cats are nice.", "Do you agree? Dogs bark."])
    'Do you agree?'
    >>> common_stem(["How old are you?", "How tall are you?"])
    ''
    """
    qs = [clean(q) for q in questions]
    if len(qs) < 2:
        return ""
    first = qs[0]
    best = ""
    for m in _BREAK.finditer(first):
        stem = first[: m.start()].strip()
        head = first[: m.end()]
        if all(q.startswith(head) and len(q) > len(head) for q in qs):
            best = stem
    return best


def item_text(question: str, stem: str = "") -> str:
    """The question without the shared ``stem`` (see :func:`common_stem`)."""
    q = clean(question)
    if stem and q.startswith(stem):
        rest = q[len(stem) :].lstrip(" -–—:")
        if rest:
            return rest
    return q


def wrap(text: str, width: int, lines: int | None = None) -> str:
    """``text`` wrapped at word boundaries; beyond ``lines`` lines, shortened with '…'.

    Words are never broken, so a word longer than ``width`` overhangs rather
    than being cut.

    >>> wrap("Neither agree nor disagree", 12)
    'Neither\\nagree nor\\ndisagree'
    >>> wrap("one two three four five six", 9, lines=2)
    'one two\\nthree…'
    """
    out = textwrap.wrap(clean(text), width, break_long_words=False, break_on_hyphens=False)
    if lines is not None and len(out) > lines:
        out = out[:lines]
        last = out[-1]
        while len(last) + 1 > width and " " in last:
            last = last.rsplit(" ", 1)[0]
        out[-1] = last.rstrip(",;:.-–—") + "…"
    return "\n".join(out)


def option_width(k: int) -> int:
    """Characters per line of an option label under a bar group of ``k`` options."""
    return max(8, min(16, 64 // max(k, 1)))


def option_label(option: str, k: int) -> str:
    """An option as drawn under its bars: every word of it, wrapped to fit.

    >>> option_label("Neither agree  nor disagree", 5)
    'Neither\\nagree nor\\ndisagree'
    """
    return wrap(option, option_width(k))
