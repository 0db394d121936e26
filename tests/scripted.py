"""A deterministic scripted language model for fast tests of stage and pipeline logic.

It implements the :class:`silico.pipeline.stages.LanguageModel` protocol without
a server: answers are a function of the prompt text, so runs are repeatable and
degenerate cases can be planted by putting a marker in a context. The
integration tests use the real model; this one only checks the logic around it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from silico.core.extraction import OptionScores
from silico.llm import Generation

#: A context containing this never puts mass on an option letter.
MUTE = "[mute]"
#: A context containing this puts only 5 % of its mass on option letters.
MUMBLE = "[mumble]"

STORY = (
    "I am 44 years old and I grew up in Dayton, Ohio, where my father worked at a tire "
    "plant and my mother taught second grade. I went to Ohio State for two years, then "
    "I started working as an electrician. I married my wife Carla in 2003 and we have two "
    "kids. I like fishing on weekends and I coach my son's baseball team."
)


def _u(*keys: object) -> float:
    h = hashlib.sha256("\x1f".join(map(str, keys)).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


class ScriptedLM:
    """Answers from a hash of the prompt; records every prompt it was sent."""

    def __init__(self, sampled_fail: float = 0.0) -> None:
        self.prompts: list[str] = []
        self.sampled_fail = sampled_fail

    def generate(
        self,
        prompts: Sequence[str],
        max_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | Sequence[int] | None = None,
        stage: str = "generate",
        repetition_penalty: float = 1.0,
    ) -> list[Generation]:
        seeds = list(seed) if isinstance(seed, Sequence) else [seed] * len(prompts)
        out = []
        for p, s in zip(prompts, seeds, strict=True):
            self.prompts.append(p)
            if "Are you a US citizen?" in p and p.rstrip().endswith("Answer:"):
                text = " Yes, I am."
            elif "Answer with (" in p:
                k = p.rsplit("Answer with ", 1)[1].count("(")
                if MUTE in p or _u(p, s, "fail") < self.sampled_fail:
                    text = " I don't know"
                else:
                    text = f" ({'ABCDEFGH'[int(_u(p, s) * k)]})"
            else:
                text = " " + STORY
            out.append(Generation(text, "stop", len(p.split()), len(text.split()), 0))
        return out

    def text_logprob(
        self, contexts: Sequence[str], texts: Sequence[str], stage: str = "critic"
    ) -> list[float]:
        """A fixed coherence: -2 per token for prose, -8 for a text with MUTE in it."""
        return [-8.0 if MUTE in t else -2.0 for t in texts]

    def score_options(
        self, prompts: Sequence[str], n_options: Sequence[int] | int, stage: str = "score"
    ) -> list[OptionScores]:
        ks = [n_options] * len(prompts) if isinstance(n_options, int) else list(n_options)
        out = []
        for p, k in zip(prompts, ks, strict=True):
            self.prompts.append(p)
            raw = np.array([_u(p, j) + 0.05 for j in range(k)])
            probs = raw / raw.sum()
            comp = 0.0 if MUTE in p else (0.05 if MUMBLE in p else 0.8)
            out.append(OptionScores(probs if comp > 0 else np.full(k, 1.0 / k), comp))
        return out
