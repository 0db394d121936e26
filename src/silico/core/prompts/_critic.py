"""The critic: a prompt that judges a backstory (or one interview answer) and its verdict."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from silico.core.prompts._backstory import Turn, format_transcript

#: What the critic is asked to look for, one line each (also the reason vocabulary).
CRITERIA = (
    "contradicts an earlier statement (age, places, family, work, dates)",
    "is incoherent, repetitive or unfinished",
    "is not a first-person narrative by the speaker",
    "mentions being an interview, a survey, an AI, a blog post or a story prompt",
)

#: Canonical reason codes, in the order of :data:`CRITERIA`.
REASON_CODES = ("contradiction", "incoherent", "not_first_person", "frame_break")


@dataclass(frozen=True)
class Verdict:
    """A critic's judgement: accepted, or rejected with a reason code and its text."""

    accepted: bool
    reason: str = ""
    detail: str = ""


def critic_prompt(text: str, earlier: Sequence[Turn] = ()) -> str:
    """Ask the critic whether ``text`` is a consistent first-person account.

    Parameters
    ----------
    text : str
        The backstory, or the newest interview answer.
    earlier : sequence of Turn
        The interview transcript before ``text``; empty for single-turn backstories.

    The critic answers ``ACCEPT`` or ``REJECT: <reason>`` on the first line, which
    :func:`parse_verdict` reads.
    """
    criteria = "\n".join(f"- {c}" for c in CRITERIA)
    parts = [
        "You are checking life stories written by survey respondents for consistency.",
        "Reject the NEW TEXT if it:",
        criteria,
        "Otherwise accept it.",
    ]
    if earlier:
        parts.append("EARLIER ANSWERS:\n" + format_transcript(earlier))
    parts.append("NEW TEXT:\n" + text.strip())
    parts.append("Reply with ACCEPT, or REJECT: followed by the reason.\nVerdict:")
    return "\n\n".join(parts)


_REASON_PATTERNS = (
    ("contradiction", r"contradict|inconsisten|earlier|conflict|\bage\b|\bolder\b|\byounger\b"),
    ("frame_break", r"interview|survey|\bai\b|language model|blog|prompt|assistant"),
    ("not_first_person", r"first[- ]person|third[- ]person|narrat"),
    ("incoherent", r"incoheren|repetit|nonsens|unfinished|gibberish|unclear"),
)


def parse_verdict(text: str) -> Verdict | None:
    """Read a critic reply: ``ACCEPT`` or ``REJECT[: reason]``; ``None`` if it says neither.

    The first of the two keywords to appear decides. A rejection's reason is
    classified into one of :data:`REASON_CODES` (``"other"`` if none fits) and
    the critic's own words are kept as ``detail``.

    Examples
    --------
    >>> parse_verdict(" ACCEPT")
    Verdict(accepted=True, reason='', detail='')
    >>> parse_verdict("REJECT: the age contradicts the earlier answer").reason
    'contradiction'
    >>> parse_verdict("I am not sure") is None
    True
    """
    m = re.search(r"\b(accept(?:ed)?|reject(?:ed)?)\b", text, flags=re.IGNORECASE)
    if m is None:
        return None
    if m.group(1).lower().startswith("accept"):
        return Verdict(True)
    detail = text[m.end() :].lstrip(" :.-\n").split("\n")[0].strip()
    low = detail.lower()
    for code, pattern in _REASON_PATTERNS:
        if re.search(pattern, low):
            return Verdict(False, code, detail)
    return Verdict(False, "other", detail)


def check_consistency(text: str, earlier: Sequence[Turn] = ()) -> Verdict:
    """A rule-based critic for what rules can catch: stated ages that disagree,
    frame breaks, and third-person narration.

    It runs before (and independently of) the language-model critic, so the
    plainest contradictions are caught even by a small model.

    >>> check_consistency("I am 34 years old.", [Turn("Q", "I'm 52 years old.")]).reason
    'contradiction'
    >>> check_consistency("I grew up in Ohio and I love my dog.").accepted
    True
    """
    ages_now = _stated_ages(text)
    ages_before = {a for t in earlier for a in _stated_ages(t.answer)}
    if ages_now and ages_before and not (ages_now & ages_before):
        return Verdict(
            False,
            "contradiction",
            f"states age {sorted(ages_now)} but earlier {sorted(ages_before)}",
        )
    if len(ages_now) > 1:
        return Verdict(False, "contradiction", f"states several ages {sorted(ages_now)}")
    if re.search(
        r"\b(as an ai|language model|this interview|in this survey|blog post)\b",
        text,
        re.IGNORECASE,
    ):
        return Verdict(False, "frame_break", "mentions the interview/AI frame")
    words = re.findall(r"[A-Za-z']+", text.lower())
    first = sum(w in ("i", "i'm", "me", "my", "myself", "i've", "i'd") for w in words)
    if len(words) >= 30 and first == 0:
        return Verdict(False, "not_first_person", "no first-person pronouns")
    return Verdict(True)


def _stated_ages(text: str) -> set[int]:
    # Present tense only: "when I was 12 years old" is a memory, not a claim of age.
    present = r"\b(?:i am|i'm)\s+(?:now\s+)?"
    found = re.findall(
        present + r"(\d{1,3})(?=\s*(?:years?\b|yrs?\b|[.,;!]|$|\s+and\b))",
        text,
        flags=re.IGNORECASE,
    )
    found += re.findall(present + r"an?\s+(\d{1,3})[- ]year[- ]old\b", text, flags=re.IGNORECASE)
    return {int(a) for a in found if 0 < int(a) < 120}
