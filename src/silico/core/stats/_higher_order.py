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


#: The talk's three gaps, by what they contrast (see :func:`party_gaps`).
GAP_KINDS = ("hostility", "meta_perception", "subversion")


def party_gaps(
    ratings: dict[str, np.ndarray],
    party: Sequence[str] | np.ndarray,
    parties: Sequence[str] = ("Democrats", "Republicans"),
    weights: Sequence[float] | np.ndarray | None = None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> list[dict[str, object]]:
    """The three perception gaps of each party, with bootstrap intervals.

    Parameters
    ----------
    ratings : mapping perspective -> array (n,)
        Each respondent's (expected) rating on the item's ordinal scale, for
        the variants of :func:`~silico.core.prompts.make_variants` as asked of
        their own party: ``self`` (their rating of the out-group), ``ingroup``
        (of their own party) and ``meta`` (what they believe the out-group
        thinks of their party). NaN where not asked.
    party : array (n,) of str
        Each respondent's party (one of ``parties``; others are left out).
    weights : array (n,), optional
        Survey weights.
    n_boot : int
        Bootstrap resamples (respondents resampled within each party).

    Returns
    -------
    list of dict
        One row per party and gap kind: ``party``, ``gap`` (kind), ``mean_x``,
        ``mean_y``, ``value`` (mean_x - mean_y), ``d`` (Cohen's d), their
        intervals ``value_low/high`` and ``d_low/high``, and ``n_x``, ``n_y``.
        For party P with out-party O:

        * hostility (rating items): x = P's ratings of O, y = P's ratings of P;
        * meta_perception (rating items): x = what P believes O thinks of P,
          y = O's actual ratings of P;
        * subversion (behaviour items, e.g. "would you support ignoring
          rulings by {target} judges?"): x = how O perceives P's willingness
          (O's meta answers), y = P's own willingness (P's self answers).

    Examples
    --------
    >>> r = {"self": np.array([4., 5, 2, 1]), "ingroup": np.array([1., 2, 4, 5]),
    ...      "meta": np.array([5., 5, 5, 4])}
    >>> rows = party_gaps(r, ["D", "D", "R", "R"], ("D", "R"), n_boot=0)
    >>> [(x["party"], x["gap"], x["value"]) for x in rows][:3]
    [('D', 'hostility', 3.0), ('D', 'meta_perception', 3.5), ('D', 'subversion', 0.0)]
    """
    if len(parties) != 2:
        raise ValidationError("parties", "needs exactly two parties")
    for persp in ("self", "ingroup", "meta"):
        if persp not in ratings:
            raise ValidationError(f"ratings.{persp}", "missing")
    pa = np.asarray(party, dtype=object)
    n = len(pa)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    r = {k: np.asarray(v, dtype=float) for k, v in ratings.items()}
    for k, v in r.items():
        if v.shape != (n,):
            raise ValidationError(f"ratings.{k}", f"has shape {v.shape}, expected ({n},)")
    if w.shape != (n,):
        raise ValidationError("weights", f"has shape {w.shape}, expected ({n},)")
    members = {p: np.flatnonzero(pa == p) for p in parties}

    Contrast = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    def contrasts(idx: dict[str, np.ndarray]) -> dict[tuple[str, str], Contrast]:
        out = {}
        for own, other in ((parties[0], parties[1]), (parties[1], parties[0])):
            m, o = idx[own], idx[other]
            out[(own, "hostility")] = (r["self"][m], r["ingroup"][m], w[m], w[m])
            out[(own, "meta_perception")] = (r["meta"][m], r["self"][o], w[m], w[o])
            out[(own, "subversion")] = (r["meta"][o], r["self"][m], w[o], w[m])
        return out

    def measure(x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray) -> Gap | None:
        try:
            return perception_gap(x, y, wx, wy)
        except ValidationError:
            return None

    point = {ck: measure(*cv) for ck, cv in contrasts(members).items()}
    boots: dict[tuple[str, str], list[tuple[float, float]]] = {k: [] for k in point}
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        idx = {
            p: rng.choice(m, size=len(m), replace=True) if len(m) else m for p, m in members.items()
        }
        for ck, cv in contrasts(idx).items():
            g = measure(*cv)
            if g is not None and np.isfinite(g.d):
                boots[ck].append((g.gap, g.d))
    alpha = (1 - level) / 2
    rows: list[dict[str, object]] = []
    for key, g in point.items():
        own, kind = key
        draws = np.array(boots[key]) if boots[key] else np.empty((0, 2))
        ci = (
            np.quantile(draws, [alpha, 1 - alpha], axis=0)
            if len(draws) >= 2
            else np.full((2, 2), np.nan)
        )
        rows.append(
            {
                "party": own,
                "gap": kind,
                "mean_x": g.mean_x if g else float("nan"),
                "mean_y": g.mean_y if g else float("nan"),
                "value": g.gap if g else float("nan"),
                "value_low": float(ci[0, 0]),
                "value_high": float(ci[1, 0]),
                "d": g.d if g else float("nan"),
                "d_low": float(ci[0, 1]),
                "d_high": float(ci[1, 1]),
                "n_x": g.n_x if g else 0,
                "n_y": g.n_y if g else 0,
            }
        )
    order = {k: i for i, k in enumerate(GAP_KINDS)}
    rows.sort(key=lambda x: (list(parties).index(str(x["party"])), order[str(x["gap"])]))
    return rows
