"""Assignment of personas to humans: greedy, Hungarian, random, capacity-constrained."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from silico.core.errors import ValidationError
from silico.core.matching._weights import MatchProblem

#: Rows computed at once when a matrix is built block by block (bounded memory).
_BLOCK_BYTES = 32 * 2**20

MATCHING_METHODS = ("greedy", "hungarian", "capacity", "random")


@dataclass(frozen=True)
class Matching:
    """Which persona each human got.

    Attributes
    ----------
    persona : ndarray of int, shape (H,)
        Persona index per human.
    log_weight : ndarray, shape (H,)
        :math:`\\log w(h, \\text{persona}[h])` (NaN for ``random`` when no weights
        were given).
    method : str
    """

    persona: np.ndarray
    log_weight: np.ndarray
    method: str


def _source(w: MatchProblem | np.ndarray) -> MatchProblem | np.ndarray:
    if isinstance(w, np.ndarray):
        if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] == 0:
            raise ValidationError("weights", f"expected a non-empty (H, V) matrix, got {w.shape}")
        if np.isnan(w).any():
            raise ValidationError("weights", "contains NaN")
    return w


def _shape(w: MatchProblem | np.ndarray) -> tuple[int, int]:
    if isinstance(w, np.ndarray):
        return int(w.shape[0]), int(w.shape[1])
    return w.n_humans, w.n_personas


def _rows(w: MatchProblem | np.ndarray, idx: np.ndarray) -> np.ndarray:
    return w[idx] if isinstance(w, np.ndarray) else w.rows(idx)


def _blocks(n: int, n_cols: int) -> list[np.ndarray]:
    size = max(1, _BLOCK_BYTES // (8 * max(n_cols, 1)))
    return [np.arange(s, min(s + size, n)) for s in range(0, n, size)]


def greedy_match(w: MatchProblem | np.ndarray) -> Matching:
    """Each human takes its most likely persona; personas may be reused.

    .. math:: \\sigma(h) = \\arg\\max_v \\log w(h, v)

    Ties go to the lowest persona index. Rows are computed once per distinct
    human profile and block by block, so memory stays bounded.

    Parameters
    ----------
    w : MatchProblem or ndarray, shape (H, V)

    Examples
    --------
    >>> greedy_match(np.log(np.array([[0.1, 0.9], [0.2, 0.8]]))).persona.tolist()
    [1, 1]
    """
    w = _source(w)
    h, v = _shape(w)
    if isinstance(w, MatchProblem):
        profiles, inverse = w.profiles()
        sub = MatchProblem(w.traits, w.log_probs, profiles)
        best = np.empty(len(profiles), dtype=np.int64)
        score = np.empty(len(profiles))
        for idx in _blocks(len(profiles), v):
            r = sub.rows(idx)
            best[idx] = r.argmax(axis=1)
            score[idx] = r[np.arange(len(idx)), best[idx]]
        return Matching(best[inverse], score[inverse], "greedy")
    best = w.argmax(axis=1)
    return Matching(best, w[np.arange(h), best], "greedy")


def hungarian_match(w: MatchProblem | np.ndarray, raw: bool = False) -> Matching:
    """One-to-one assignment maximising the total log weight, or the total raw weight.

    .. math:: \\max_{\\sigma \\text{ injective}} \\sum_h \\log w(h, \\sigma(h))
              \\quad\\text{or, with } \\texttt{raw}, \\quad
              \\max_{\\sigma} \\sum_h w(h, \\sigma(h))

    solved exactly by :func:`scipy.optimize.linear_sum_assignment`. Needs at
    least as many personas as humans. ``raw=True`` is the released Anthology
    code's objective (a sum of likelihood products): it favours the pairs
    with the largest products and cares little for the rest, while the log
    form maximises the joint likelihood of the whole assignment.
    ``Matching.log_weight`` holds log weights either way.

    Examples
    --------
    >>> lw = np.log(np.array([[0.9, 0.5], [0.5, 0.2]]))
    >>> hungarian_match(lw).persona.tolist(), hungarian_match(lw, raw=True).persona.tolist()
    ([1, 0], [0, 1])
    """
    w = _source(w)
    h, v = _shape(w)
    if v < h:
        raise ValidationError("personas", f"one-to-one matching needs >= {h} personas, got {v}")
    m = w if isinstance(w, np.ndarray) else w.dense()
    rows, cols = linear_sum_assignment(np.exp(m) if raw else m, maximize=True)
    persona = np.empty(h, dtype=np.int64)
    persona[rows] = cols
    return Matching(persona, m[np.arange(h), persona], "hungarian")


def random_match(
    n_humans: int,
    n_personas: int,
    rng: np.random.Generator,
    w: MatchProblem | np.ndarray | None = None,
) -> Matching:
    """The ablation baseline: personas drawn at random (one-to-one when there are enough).

    Parameters
    ----------
    n_humans, n_personas : int
    rng : numpy.random.Generator
    w : optional weights, only to report the log weight of the drawn pairs.
    """
    if n_humans < 1 or n_personas < 1:
        raise ValidationError("personas", "need at least one human and one persona")
    if n_personas >= n_humans:
        persona = rng.permutation(n_personas)[:n_humans]
    else:
        persona = rng.integers(0, n_personas, size=n_humans)
    if w is None:
        lw = np.full(n_humans, np.nan)
    else:
        lw = _pair_weights(_source(w), persona)
    return Matching(persona.astype(np.int64), lw, "random")


def _pair_weights(w: MatchProblem | np.ndarray, persona: np.ndarray) -> np.ndarray:
    h, v = _shape(w)
    if isinstance(w, np.ndarray):
        return w[np.arange(h), persona]
    out = np.empty(h)
    for idx in _blocks(h, v):
        out[idx] = w.rows(idx)[np.arange(len(idx)), persona[idx]]
    return out


def capacity_match(
    w: MatchProblem | np.ndarray,
    capacity: int,
    survey_weights: np.ndarray | None = None,
    exact: bool = False,
) -> Matching:
    """Each persona serves at most ``capacity`` humans; survey weights set the priority.

    With survey weights :math:`s_h` (1 when absent) the target is

    .. math:: \\max_\\sigma \\sum_h s_h \\log w(h, \\sigma(h))
              \\quad\\text{s.t.}\\quad |\\sigma^{-1}(v)| \\le k \\;\\forall v .

    ``exact=True`` solves it with :func:`scipy.optimize.linear_sum_assignment`
    on the persona columns repeated :math:`k` times (fine for small problems).
    The default is the scalable greedy: humans in descending survey weight
    (ties: index order) each take their best persona that still has room, so
    heavily weighted respondents, who move the weighted metrics most, get the
    closest personas.

    Parameters
    ----------
    w : MatchProblem or ndarray, shape (H, V)
    capacity : int
        :math:`k \\ge 1`; needs :math:`kV \\ge H`.
    survey_weights : ndarray, shape (H,), optional
    exact : bool
    """
    w = _source(w)
    h, v = _shape(w)
    if capacity < 1:
        raise ValidationError("matching.capacity", "must be >= 1")
    if capacity * v < h:
        raise ValidationError(
            "matching.capacity", f"{v} personas x capacity {capacity} cannot serve {h} humans"
        )
    s = np.ones(h) if survey_weights is None else np.asarray(survey_weights, dtype=float)
    if s.shape != (h,) or np.any(~np.isfinite(s)) or np.any(s < 0):
        raise ValidationError("survey_weights", f"need {h} finite non-negative weights")
    if exact:
        m = w if isinstance(w, np.ndarray) else w.dense()
        rep = np.repeat(m * s[:, None], capacity, axis=1)
        rows, cols = linear_sum_assignment(rep, maximize=True)
        persona = np.empty(h, dtype=np.int64)
        persona[rows] = cols // capacity
        return Matching(persona, m[np.arange(h), persona], "capacity")
    order = np.argsort(-s, kind="stable")
    load = np.zeros(v, dtype=np.int64)
    full = np.zeros(v, dtype=bool)
    persona = np.empty(h, dtype=np.int64)
    score = np.empty(h)
    for block in _blocks(h, v):
        idx = order[block]
        r = _rows(w, idx)
        if full.any():
            r[:, full] = -np.inf
        for i in range(len(idx)):
            j = int(r[i].argmax())
            persona[idx[i]] = j
            score[idx[i]] = r[i, j]
            load[j] += 1
            if load[j] == capacity:
                full[j] = True
                r[i + 1 :, j] = -np.inf
    return Matching(persona, score, "capacity")
