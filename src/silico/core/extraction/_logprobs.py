"""Option distributions from next-token log-probabilities."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from silico.core.errors import ValidationError
from silico.core.prompts import LETTERS


@dataclass(frozen=True)
class OptionScores:
    """A distribution over an item's displayed options and how much mass it rests on.

    Attributes
    ----------
    probs : ndarray, shape (K,)
        Renormalised probabilities of the option letters (display order); uniform
        when no mass fell on any letter.
    compliance : float
        Probability mass that fell on any option letter, before renormalising
        (1 = the model only ever answers with a letter).
    paren_mass : float
        Mass on a bare opening parenthesis (``"("``, ``" ("``): the letter comes
        one token later. See :func:`combine_with_followup`.
    """

    probs: np.ndarray
    compliance: float
    paren_mass: float = 0.0


def _letter_of(token: str, k: int) -> int | None:
    """Option index a token stands for under the forms ``X``, `` X``, ``(X`` and `` (X``."""
    t = token.lstrip(" ")
    if t.startswith("("):
        t = t[1:]
    if len(t) == 1 and t in LETTERS[:k]:
        return LETTERS.index(t)
    return None


def option_distribution(top_logprobs: Mapping[str, float], k: int) -> OptionScores:
    """Option distribution from the top log-probabilities of the next token.

    For option letter :math:`X_j` the mass is summed over its token forms,

    .. math:: m_j = \\sum_{t \\in \\{X_j,\\ \\text{␣}X_j,\\ (X_j,\\ \\text{␣}(X_j\\}} e^{\\ell_t},
              \\qquad p_j = m_j / \\sum_i m_i,

    and :math:`c = \\sum_j m_j` is kept as the compliance figure.

    Parameters
    ----------
    top_logprobs : mapping of token text -> natural-log probability
        The next token's top alternatives as the completions API returns them.
    k : int
        Number of options (letters ``A`` .. ``LETTERS[k-1]``).

    Returns
    -------
    OptionScores

    Examples
    --------
    >>> s = option_distribution({" A": math.log(0.5), "B": math.log(0.2), " the": math.log(0.3)}, 2)
    >>> s.probs.round(4).tolist(), round(s.compliance, 4)
    ([0.7143, 0.2857], 0.7)
    """
    if k < 1 or k > len(LETTERS):
        raise ValidationError("k", f"must be in 1..{len(LETTERS)}")
    mass = np.zeros(k)
    paren = 0.0
    for token, lp in top_logprobs.items():
        if lp is None or not math.isfinite(lp):
            continue
        if lp > 1e-6:
            raise ValidationError("logprobs", f"log-probability {lp} of {token!r} is above 0")
        j = _letter_of(token, k)
        if j is not None:
            mass[j] += math.exp(lp)
        elif token.strip() == "(":
            paren += math.exp(lp)
    total = float(mass.sum())
    probs = mass / total if total > 0 else np.full(k, 1.0 / k)
    return OptionScores(probs, min(total, 1.0), min(paren, 1.0))


def combine_with_followup(direct: OptionScores, followup: OptionScores) -> OptionScores:
    """Fold the letters that follow a bare ``(`` into the direct letter mass.

    When the model's next token is ``"("`` (mass :math:`\\pi`), the letter is the
    token after it. With :math:`m` the direct letter mass and :math:`f` the
    follow-up distribution (scored after the prompt plus ``" ("``, with its own
    compliance :math:`c_f`),

    .. math:: m'_j = m_j + \\pi\\, c_f\\, f_j .

    Examples
    --------
    >>> d = OptionScores(np.array([1.0, 0.0]), 0.2, 0.8)
    >>> f = OptionScores(np.array([0.0, 1.0]), 1.0)
    >>> combine_with_followup(d, f).probs.tolist()
    [0.2, 0.8]
    """
    if direct.probs.shape != followup.probs.shape:
        raise ValidationError("followup", "option counts differ")
    mass = (
        direct.probs * direct.compliance + direct.paren_mass * followup.compliance * followup.probs
    )
    total = float(mass.sum())
    k = mass.shape[0]
    probs = mass / total if total > 0 else np.full(k, 1.0 / k)
    return OptionScores(probs, min(total, 1.0), 0.0)
