"""Individual ordinal responses: distributions, weighted correlations, Cronbach's alpha."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from silico.core.errors import ValidationError


@dataclass(frozen=True)
class Responses:
    """Ordinal responses of n respondents to p items.

    Attributes
    ----------
    values : ndarray, shape (n, p)
        Ordinal position 1..K_j per respondent and item; NaN where not asked,
        refused or non-compliant.
    ks : ndarray of int, shape (p,)
        Number of options per item.
    weights : ndarray, shape (n,)
        Survey weights (ones when the data have none).
    """

    values: np.ndarray
    ks: np.ndarray
    weights: np.ndarray

    @classmethod
    def build(
        cls,
        values: np.ndarray | Sequence[Sequence[float]],
        ks: Sequence[int],
        weights: Sequence[float] | None = None,
    ) -> Responses:
        """Validate and wrap: positions must be integers within 1..K_j (or NaN)."""
        v = np.array(values, dtype=float)
        if v.ndim != 2:
            raise ValidationError("responses", f"expected (n, p), got shape {v.shape}")
        k = np.asarray(ks, dtype=np.int64)
        if k.shape != (v.shape[1],) or np.any(k < 2):
            raise ValidationError("responses.ks", f"need {v.shape[1]} option counts >= 2")
        finite = np.isfinite(v)
        if np.any(np.isinf(v)):
            raise ValidationError("responses", "infinite values")
        bad = finite & ((v < 1) | (v > k[None, :]) | (v != np.round(v)))
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise ValidationError(
                f"responses[{i}, {j}]", f"{v[i, j]} is not a position in 1..{k[j]}"
            )
        w = np.ones(v.shape[0]) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (v.shape[0],) or np.any(~np.isfinite(w)) or np.any(w < 0):
            raise ValidationError(
                "responses.weights", f"need {v.shape[0]} finite non-negative weights"
            )
        return cls(v, k, w)

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    @property
    def p(self) -> int:
        return int(self.values.shape[1])

    def take(self, rows: np.ndarray) -> Responses:
        """The responses of a subset (or resample) of respondents."""
        return Responses(self.values[rows], self.ks, self.weights[rows])


def distributions(r: Responses) -> list[np.ndarray]:
    """Weighted response distribution of every item (missing responses left out).

    .. math:: \\hat p_{j,c} = \\frac{\\sum_i s_i [x_{ij} = c]}{\\sum_i s_i [x_{ij} \\text{ observed}]}

    Items with no observed response get an all-NaN vector.

    >>> r = Responses.build([[1, 2], [2, np.nan], [2, 1]], [2, 3], [1, 1, 2])
    >>> [d.round(3).tolist() for d in distributions(r)]
    [[0.25, 0.75], [0.667, 0.333, 0.0]]
    """
    kmax = int(r.ks.max())
    ok = np.isfinite(r.values)
    cols = np.broadcast_to(np.arange(r.p), r.values.shape)[ok]
    pos = r.values[ok].astype(np.int64) - 1
    w = np.broadcast_to(r.weights[:, None], r.values.shape)[ok]
    counts = np.bincount(cols * kmax + pos, weights=w, minlength=r.p * kmax).reshape(r.p, kmax)
    out = []
    for j in range(r.p):
        c = counts[j, : r.ks[j]]
        total = c.sum()
        out.append(c / total if total > 0 else np.full(r.ks[j], np.nan))
    return out


def weighted_corr(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted Pearson correlation matrix over pairwise-complete observations.

    For items :math:`i, j` over respondents observed on both (weights :math:`s`),

    .. math:: r_{ij} = \\frac{\\sum s (x_i - \\bar x_{i|j})(x_j - \\bar x_{j|i})}
              {\\sqrt{\\sum s (x_i - \\bar x_{i|j})^2 \\sum s (x_j - \\bar x_{j|i})^2}}

    where :math:`\\bar x_{i|j}` is the weighted mean of item :math:`i` over
    those respondents. With complete data and unit weights this is
    ``numpy.corrcoef``. Undefined entries (a constant item, fewer than 2
    shared respondents) are NaN; the diagonal of a defined item is 1.

    Parameters
    ----------
    values : ndarray, shape (n, p), NaN for missing
    weights : ndarray, shape (n,), optional

    Returns
    -------
    ndarray, shape (p, p)
    """
    x = np.asarray(values, dtype=float)
    n, _ = x.shape
    s = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    m = np.isfinite(x).astype(float)
    x0 = np.where(m > 0, x, 0.0)
    sm = s[:, None] * m
    sx = s[:, None] * x0
    w_ij = sm.T @ m  # total weight over pairs observed on both
    cnt = m.T @ m
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_ij = (sx.T @ m) / w_ij  # mean of i over rows where j observed
        sq_ij = ((sx * x0).T @ m) / w_ij
        cross = (sx.T @ x0) / w_ij
        cov = cross - mean_ij * mean_ij.T
        var_i = sq_ij - mean_ij**2
        var_j = var_i.T
        den = np.sqrt(np.clip(var_i, 0, None) * np.clip(var_j, 0, None))
        # A constant item leaves round-off (~1e-14) in its variance, which must
        # not pass for variation: test each variance against its own second
        # moment, not the product against a joint scale (that let a constant
        # item through with spurious correlations near +-1).
        flat_i = var_i <= 1e-9 * np.where(sq_ij > 0, sq_ij, 1.0)
        tiny = flat_i | flat_i.T | (den <= 0)
        r = np.where(tiny | (cnt < 2), np.nan, cov / den)
    r = np.clip(r, -1.0, 1.0)
    d = np.diag(r).copy()
    np.fill_diagonal(r, np.where(np.isfinite(d), 1.0, np.nan))
    return np.asarray(r)


def cronbach_alpha(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Cronbach's alpha of a battery, over respondents who answered every item.

    .. math:: \\alpha = \\frac{k}{k-1}\\Big(1 - \\frac{\\sum_i \\sigma^2_i}{\\sigma^2_{\\text{total}}}\\Big)

    with (weighted) variances of the items and of their sum. Variances enter
    only as a ratio, so the degrees-of-freedom convention cancels.

    Parameters
    ----------
    values : ndarray, shape (n, k), NaN for missing
    weights : ndarray, shape (n,), optional

    Examples
    --------
    Identical items are perfectly consistent; uncorrelated items of equal
    variance have alpha 0:

    >>> cronbach_alpha(np.array([[1, 1], [2, 2], [3, 3]]))
    1.0
    >>> cronbach_alpha(np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]]))
    0.0
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValidationError("alpha", "needs at least 2 items")
    s = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    complete = np.all(np.isfinite(x), axis=1) & (s > 0)
    x, s = x[complete], s[complete]
    if x.shape[0] < 2:
        return float("nan")
    k = x.shape[1]

    def wvar(a: np.ndarray) -> np.ndarray:
        mu = (s[:, None] * a).sum(axis=0) / s.sum() if a.ndim == 2 else (s * a).sum() / s.sum()
        d = a - mu
        return (
            (s[:, None] * d**2).sum(axis=0) / s.sum() if a.ndim == 2 else (s * d**2).sum() / s.sum()
        )

    total = float(wvar(x.sum(axis=1)))
    if total <= 0:
        return float("nan")
    return float(k / (k - 1) * (1.0 - float(wvar(x).sum()) / total))
