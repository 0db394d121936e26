"""The accept/resample policy for single-turn backstories, in one place.

A persona's attempts are sampled one after another: attempt ``a`` is
reviewed by the critic, and a rejected attempt is followed by attempt
``a + 1`` until one is accepted or ``max_attempts`` are spent (the last is
then kept with ``accepted=False``, and its reason). Both drivers ask
:func:`backstory_step` what to do next for each persona from what they hold:
the in-process runner from its own dictionaries, the orchestrator from the
store. Interview transcripts are one unit each (the critic reviews each answer
inside it), so they need no step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from silico.core.prompts import Verdict
from silico.pipeline.stages import Backstory


@dataclass(frozen=True)
class Candidate:
    """One sampled attempt, before the critic (what a backstory unit returns)."""

    id: str
    text: str
    seed: int
    generated_tokens: int


@dataclass(frozen=True)
class Sample:
    """Next: sample attempt ``attempt`` of persona ``persona``."""

    persona: int
    attempt: int


@dataclass(frozen=True)
class Review:
    """Next: the critic reviews attempt ``attempt`` of persona ``persona``."""

    persona: int
    attempt: int
    candidate: Candidate


Step = Sample | Review | Backstory


def attempt_key(persona: int, attempt: int) -> str:
    """The unit key of a persona's attempt (the same for its candidate and its verdict)."""
    return f"{persona}/{attempt}"


def backstory_step(
    persona: int,
    candidates: Mapping[str, Candidate],
    verdicts: Mapping[str, Verdict],
    max_attempts: int,
) -> Step:
    """What persona ``persona`` needs next: an attempt sampled, one reviewed, or nothing
    (its final :class:`Backstory`)."""
    seen: list[Verdict] = []
    rejected: list[str] = []
    for a in range(max_attempts):
        key = attempt_key(persona, a)
        cand = candidates.get(key)
        if cand is None:
            return Sample(persona, a)
        v = verdicts.get(key)
        if v is None:
            return Review(persona, a, cand)
        seen.append(v)
        if v.accepted or a == max_attempts - 1:
            return Backstory(
                cand.id,
                cand.text,
                cand.seed,
                cand.generated_tokens,
                a + 1,
                v.accepted,
                v.reason,
                tuple(seen),
                tuple(rejected),
            )
        rejected.append(cand.text)
    raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
