"""Higher-order metrics: perception gaps between partisans and their effect sizes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from silico.core.errors import ValidationError


def _clean(
    x: Sequence[float] | np.ndarray, w: Sequence[float] | np.ndarray | None, name: str
) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=float)
    s = np.ones_like(a) if w is None else np.asarray(w, dtype=float)
    if a.ndim != 1 or s.shape != a.shape:
        raise ValidationError(name, "values and weights must be 1-d of one length")
    ok = np.isfinite(a) & np.isfinite(s) & (s > 0)
    if ok.sum() < 2:
        raise ValidationError(name, "needs at least 2 observed values")
    return a[ok], s[ok]


def _wmean_var(a: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    mu = float((s * a).sum() / s.sum())
    n = len(a)
    # Weighted variance rescaled to the n-1 convention of the unweighted case.
    var = float((s * (a - mu) ** 2).sum() / s.sum() * n / (n - 1))
    return mu, var


def cohens_d(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    wx: Sequence[float] | np.ndarray | None = None,
    wy: Sequence[float] | np.ndarray | None = None,
) -> float:
    """Cohen's d with the pooled standard deviation.

    .. math:: d = \\frac{\\bar x - \\bar y}{\\sqrt{\\frac{(n_x - 1)s_x^2 + (n_y - 1)s_y^2}{n_x + n_y - 2}}}

    Weighted means and variances when weights are given. NaNs are left out.

    Examples
    --------
    >>> cohens_d([2, 4, 6], [1, 3, 5])
    0.5
    """
    a, sa = _clean(x, wx, "x")
    b, sb = _clean(y, wy, "y")
    ma, va = _wmean_var(a, sa)
    mb, vb = _wmean_var(b, sb)
    na, nb = len(a), len(b)
    pooled = np.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    if pooled == 0:
        return float("nan") if ma == mb else float(np.sign(ma - mb) * np.inf)
    return float((ma - mb) / pooled)


@dataclass(frozen=True)
class Gap:
    """A perception gap: ``mean(x) - mean(y)`` and its effect size.

    ``x`` and ``y`` are what the gap contrasts (see :func:`perception_gap`).
    """

    mean_x: float
    mean_y: float
    gap: float
    d: float
    n_x: int
    n_y: int


def perception_gap(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    wx: Sequence[float] | np.ndarray | None = None,
    wy: Sequence[float] | np.ndarray | None = None,
) -> Gap:
    """The gap :math:`\\bar x - \\bar y` between two sets of ratings, with Cohen's d.

    The talk's three gaps are instances (ratings on a scale where higher means
    more negative, e.g. "a lot more immoral" = 5):

    * **hostility gap** of party P: x = P members' ratings of the opposing
      party, y = P members' ratings of their own party;
    * **subversion gap** of party P: x = how the opposing party's members
      perceive P's willingness to subvert democracy, y = how P's members
      assess their own party's willingness;
    * **meta-perception gap** of party P: x = what P's members believe the
      opposing party thinks of P, y = the opposing party's actual ratings of P.

    Examples
    --------
    >>> g = perception_gap([4, 5, 5, 4], [2, 1, 2, 1])
    >>> g.gap, round(g.d, 3)
    (3.0, 5.196)
    """
    a, sa = _clean(x, wx, "x")
    b, sb = _clean(y, wy, "y")
    ma = float((sa * a).sum() / sa.sum())
    mb = float((sb * b).sum() / sb.sum())
    return Gap(ma, mb, ma - mb, cohens_d(a, b, sa, sb), len(a), len(b))


def same_sign(human_gap: float, virtual_gap: float, tol: float = 0.0) -> bool:
    """Whether the simulation gets the direction of a gap right (|gap| <= tol counts as 0).

    >>> same_sign(1.6, 0.2), same_sign(1.6, -0.1)
    (True, False)
    """

    def sign(v: float) -> int:
        return 0 if abs(v) <= tol else (1 if v > 0 else -1)

    return sign(human_gap) == sign(virtual_gap)
