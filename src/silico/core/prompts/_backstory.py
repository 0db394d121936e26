"""Backstory prompts: the single-turn Anthology prompt and the life-history interview."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from silico.core.errors import ValidationError

#: The short Anthology question.
BACKSTORY_QUESTION_SHORT = "Tell me about yourself."
#: The longer variant that asks for age, upbringing, formative events and values.
BACKSTORY_QUESTION_LONG = (
    "Tell me about yourself. How old are you? Where did you grow up? "
    "What events made you who you are? What matters to you and what do you enjoy?"
)
#: Optional preamble turn, re-sampled until the answer contains "yes".
CITIZEN_QUESTION = "Are you a US citizen?"
#: Stop sequences of the reference generation settings.
BACKSTORY_STOP = ("Question", "Q:", "Interview")
#: Reference sampling settings for backstories.
BACKSTORY_SAMPLING = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 1500}
#: Outputs of this many tokens or fewer are dropped.
MIN_BACKSTORY_TOKENS = 40

#: The ten life-history questions of the higher-order binding interview
#: (after the American Voices Project protocol).
INTERVIEW_QUESTIONS = (
    "To start, I would like to begin with a big question: tell me the story of your life. "
    "Start from the beginning, from your childhood, to education, to family and relationships, "
    "and to any major life events you may have had.",
    "Some people tell us that they've reached a crossroads at some points in their life where "
    "multiple paths were available, and their choice then made a significant difference in "
    "defining who they are. What about you? Was there a moment like that for you, and if so, "
    "could you tell me the whole story about that from start to finish?",
    "Tell me about anyone else in your life we haven't discussed (like friends or romantic "
    "partners). Are there people outside of your family who are important to you?",
    "Now let's talk about your current neighborhood. Tell me all about the neighborhood and "
    "area in which you are living now.",
    "Tell me about any recent changes to your daily routine.",
    "How would you describe your political views?",
    "How have you been thinking about race in the U.S. recently?",
    "For you, what makes it easy or hard to stay healthy?",
    "Some people are excited about medical vaccination, and others, not so much. How about you?",
    "Some people say they struggle with depression, anxiety, or something else like that. "
    "How about for you?",
)


def qa_turn(question: str, answer: str | None = None) -> str:
    """One ``Question: ...\\n\\nAnswer:`` turn; open (ending in ``Answer:``) when no answer."""
    turn = f"Question: {question.strip()}\n\nAnswer:"
    return turn if answer is None else f"{turn} {answer.strip()}"


def backstory_prompt(variant: str = "short", preamble: str | None = None) -> str:
    """The single-turn Anthology backstory prompt.

    Parameters
    ----------
    variant : {"short", "long"}
        ``"short"`` asks "Tell me about yourself."; ``"long"`` adds the
        age / upbringing / events / values questions.
    preamble : str, optional
        An accepted answer to :data:`CITIZEN_QUESTION`, prepended as a turn.

    Examples
    --------
    >>> backstory_prompt()
    'Question: Tell me about yourself.\\n\\nAnswer:'
    """
    if variant not in ("short", "long"):
        raise ValidationError("backstory.variant", f"must be 'short' or 'long', not {variant!r}")
    question = BACKSTORY_QUESTION_SHORT if variant == "short" else BACKSTORY_QUESTION_LONG
    turns = []
    if preamble is not None:
        turns.append(qa_turn(CITIZEN_QUESTION, preamble))
    turns.append(qa_turn(question))
    return "\n\n".join(turns)


def citizen_prompt() -> str:
    """The preamble turn asking whether the persona is a US citizen."""
    return qa_turn(CITIZEN_QUESTION)


def accepts_citizen_answer(answer: str) -> bool:
    """Whether a preamble answer affirms citizenship (contains the word "yes").

    >>> accepts_citizen_answer(" Yes, I was born in Ohio.")
    True
    >>> accepts_citizen_answer(" No.")
    False
    """
    return re.search(r"\byes\b", answer, flags=re.IGNORECASE) is not None


def clean_backstory(text: str, stop: Sequence[str] = BACKSTORY_STOP) -> str:
    """Cut a generated backstory at the first stop sequence and trim whitespace.

    Servers apply stop sequences themselves; this repeats it so text from any
    source (a cached response, a sampled file) is cut the same way.
    """
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut].strip()


def long_enough(n_tokens: int, min_tokens: int = MIN_BACKSTORY_TOKENS) -> bool:
    """Reference filter: keep backstories of more than ``min_tokens`` tokens."""
    return n_tokens > min_tokens


@dataclass(frozen=True)
class Turn:
    """One answered interview question."""

    question: str
    answer: str


def format_transcript(turns: Sequence[Turn]) -> str:
    """The interview so far as alternating ``Question:`` / ``Answer:`` turns."""
    return "\n\n".join(qa_turn(t.question, t.answer) for t in turns)


def interview_prompt(turns: Sequence[Turn], next_question: str) -> str:
    """Prompt for the next interview answer, conditioned on the transcript so far.

    >>> p = interview_prompt([Turn("Q1?", "A1.")], "Q2?")
    >>> p.endswith("Question: Q2?\\n\\nAnswer:")
    True
    """
    head = format_transcript(turns)
    nxt = qa_turn(next_question)
    return f"{head}\n\n{nxt}" if head else nxt
