"""Distances between ordinal response distributions and between correlation matrices."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from silico.core.errors import ValidationError


def _as_dist(p: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(p, dtype=float)
    if a.ndim != 1 or a.size < 1:
        raise ValidationError(name, "must be a non-empty 1-d distribution")
    if np.any(a < 0) or not np.all(np.isfinite(a)):
        raise ValidationError(name, "must be finite and non-negative")
    total = a.sum()
    if total <= 0:
        raise ValidationError(name, "has no mass")
    return a / total


def wasserstein_ordinal(
    p: Sequence[float] | np.ndarray,
    q: Sequence[float] | np.ndarray,
    positions: Sequence[float] | None = None,
) -> float:
    """1-Wasserstein distance between two distributions over ordered positions.

    .. math:: W_1(p, q) = \\sum_{i=1}^{K-1} |F_p(i) - F_q(i)|\\,(x_{i+1} - x_i)

    with :math:`F` the cumulative distributions and :math:`x = 1..K` by
    default (Anthology's raw positions). Inputs are normalised first.

    Parameters
    ----------
    p, q : array_like, shape (K,)
    positions : array_like, shape (K,), increasing, optional

    Examples
    --------
    >>> wasserstein_ordinal([1, 0, 0], [0, 0, 1])
    2.0
    >>> wasserstein_ordinal([0.5, 0.5], [0.5, 0.5])
    0.0
    """
    a, b = _as_dist(p, "p"), _as_dist(q, "q")
    if a.shape != b.shape:
        raise ValidationError("q", f"has {b.size} positions, p has {a.size}")
    x = np.arange(1, a.size + 1, dtype=float) if positions is None else np.asarray(positions, float)
    if x.shape != a.shape or np.any(np.diff(x) <= 0):
        raise ValidationError("positions", "must be increasing, one per category")
    return float(np.sum(np.abs(np.cumsum(a - b)[:-1]) * np.diff(x)))


def normalised_wasserstein(
    p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray
) -> float:
    """:func:`wasserstein_ordinal` on positions 1..K divided by :math:`K-1` (OpinionQA, SubPOP).

    >>> normalised_wasserstein([1, 0, 0], [0, 0, 1])
    1.0
    """
    k = len(np.asarray(p))
    if k < 2:
        raise ValidationError("p", "needs at least 2 categories to normalise")
    return wasserstein_ordinal(p, q) / (k - 1)


def undefined_entries(c_h: np.ndarray, c_v: np.ndarray) -> int:
    """How many entries are defined in the human matrix but not in the virtual one.

    A virtual item that never varies (every persona gave the same answer) has
    no correlations; such entries are what :func:`frobenius_distance` and its
    siblings refuse to score.

    >>> undefined_entries(np.eye(2), np.array([[1.0, np.nan], [np.nan, np.nan]]))
    3
    """
    a, b = np.asarray(c_h, float), np.asarray(c_v, float)
    return int((np.isfinite(a) & ~np.isfinite(b)).sum())


def _finite_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The two matrices over the entries the human side defines, or None.

    Entries undefined on the human side (items never asked together) are left
    out of every comparison alike. An entry the human side defines but the
    virtual side does not makes the distance undefined: setting it to 0 on
    both sides, as an earlier version did, scored a degenerate simulation
    *closer* to the humans (a constant item took Frobenius from 1.65 to 0.91).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValidationError(
            "correlations", f"need two square matrices of one shape, got {a.shape}, {b.shape}"
        )
    human = np.isfinite(a)
    if not human.any():
        raise ValidationError("correlations", "no entry is defined in the human matrix")
    if (human & ~np.isfinite(b)).any():
        return None
    return np.where(human, a, 0.0), np.where(human, b, 0.0)


def frobenius_distance(c_h: np.ndarray, c_v: np.ndarray) -> float:
    """:math:`\\lVert C_h - C_v \\rVert_F` over the entries the human matrix defines.

    NaN when the virtual matrix leaves one of them undefined (see
    :func:`undefined_entries`): an undefined correlation is never scored as a match.

    >>> frobenius_distance(np.eye(2), np.array([[1.0, 0.5], [0.5, 1.0]]))
    0.7071067811865476
    >>> frobenius_distance(np.eye(2), np.array([[1.0, np.nan], [np.nan, np.nan]]))
    nan
    """
    pair = _finite_pair(c_h, c_v)
    if pair is None:
        return float("nan")
    a, b = pair
    return float(np.sqrt(np.sum((a - b) ** 2)))


def cbs_distance(c_h: np.ndarray, c_v: np.ndarray) -> float:
    """Correlation-matrix distance :math:`1 - \\mathrm{tr}(C_h C_v)/(\\lVert C_h\\rVert_F \\lVert C_v\\rVert_F)`.

    0 for proportional matrices, up to 2 for opposite ones.

    >>> abs(round(cbs_distance(np.eye(3), 2 * np.eye(3)), 12))
    0.0
    """
    pair = _finite_pair(c_h, c_v)
    if pair is None:
        return float("nan")
    a, b = pair
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        raise ValidationError("correlations", "a matrix is all zero")
    # tr(A B) = sum(A * B^T); correlation matrices are symmetric.
    return float(1.0 - np.sum(a * b.T) / (na * nb))


def l1_distance(c_h: np.ndarray, c_v: np.ndarray) -> float:
    """Entry-wise :math:`\\sum_{ij} |C_{h,ij} - C_{v,ij}|` over the entries the human matrix defines.

    NaN when the virtual matrix leaves one of them undefined.

    >>> l1_distance(np.eye(2), np.array([[1.0, 0.5], [0.5, 1.0]]))
    1.0
    """
    pair = _finite_pair(c_h, c_v)
    if pair is None:
        return float("nan")
    a, b = pair
    return float(np.sum(np.abs(a - b)))
