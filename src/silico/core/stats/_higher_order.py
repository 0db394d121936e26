"""Higher-order metrics: perception gaps between partisans and their effect sizes.

Every function here takes *ratings* in one of two forms, on ordinal positions
1..K oriented so that a higher position is the more negative answer:

* an array of shape ``(n,)``: one observed answer per respondent (humans);
* an array of shape ``(n, K)``: one answer distribution per respondent over
  positions 1..K (virtual personas scored by option log-probabilities).

A human is the special case of a one-hot distribution, so both go through the
same formulas. Effect sizes are computed on the population of *answers*, not
on each persona's expected answer: a persona that puts half its mass on
"Never" and half on "Definitely" is two very different answers, not one
middling one, and dropping that spread would shrink the SD and inflate d.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from silico.core.errors import ValidationError

Ratings = Sequence[float] | Sequence[Sequence[float]] | np.ndarray
Weights = Sequence[float] | np.ndarray | None


def answer_moments(ratings: Ratings, name: str = "ratings") -> tuple[np.ndarray, np.ndarray]:
    """Each respondent's answer mean and variance (NaN where not observed).

    .. math::

        \\mu_i = \\sum_{k=1}^K k\\,p_{ik}, \\qquad
        \\sigma_i^2 = \\sum_{k=1}^K (k - \\mu_i)^2\\,p_{ik}

    for a distribution :math:`p_i` (rows are normalised; a row without mass is
    not observed). An observed answer (1-d input) has :math:`\\sigma_i^2 = 0`.

    Examples
    --------
    >>> mu, var = answer_moments([[0.5, 0, 0.5], [0, 0, 0]])
    >>> mu.tolist(), var.tolist()
    ([2.0, nan], [1.0, nan])
    >>> answer_moments([3, np.nan])[1].tolist()
    [0.0, nan]
    """
    a = np.asarray(ratings, dtype=float)
    if a.ndim == 1:
        mu = a.copy()
        return mu, np.where(np.isfinite(mu), 0.0, np.nan)
    if a.ndim != 2 or a.shape[1] < 1:
        raise ValidationError(name, f"must be (n,) answers or (n, K) distributions, got {a.shape}")
    p = np.nan_to_num(a)
    if np.any(p < 0):
        raise ValidationError(name, "distributions must be non-negative")
    mass = p.sum(axis=1)
    ok = mass > 0
    p = p / np.where(ok, mass, 1.0)[:, None]
    pos = np.arange(1, a.shape[1] + 1, dtype=float)
    mu = p @ pos
    var = (p * (pos[None, :] - mu[:, None]) ** 2).sum(axis=1)
    mu[~ok] = np.nan
    var[~ok] = np.nan
    return mu, var


def _weights(w: Weights, n: int, name: str) -> np.ndarray:
    s = np.ones(n) if w is None else np.asarray(w, dtype=float)
    if s.shape != (n,):
        raise ValidationError(name, f"has shape {s.shape}, expected ({n},)")
    return s


def _moments(x: Ratings, w: Weights, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu, var = answer_moments(x, name)
    s = _weights(w, len(mu), f"{name} weights")
    ok = np.isfinite(mu) & np.isfinite(s) & (s > 0)
    if ok.sum() < 2:
        raise ValidationError(name, "needs at least 2 observed values")
    return mu[ok], var[ok], s[ok]


def _between_within(mu: np.ndarray, var: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """Mean and variance of the answer mixture (see :func:`mixture_moments`)."""
    n = len(mu)
    m = float((s * mu).sum() / s.sum())
    # Between-respondent part on the n-1 convention, so that one-hot humans
    # get exactly the usual sample variance of their answers.
    between = float((s * (mu - m) ** 2).sum() / s.sum() * n / (n - 1))
    within = float((s * var).sum() / s.sum())
    return m, between + within


def mixture_moments(ratings: Ratings, weights: Weights = None) -> tuple[float, float, int]:
    """Mean and variance of the answers of a (weighted) set of respondents.

    Each respondent contributes its whole answer distribution, so the answers
    form a mixture whose variance is the variance of the respondents'
    expectations plus their mean within-respondent variance:

    .. math::

        \\bar x = \\frac{\\sum_i w_i \\mu_i}{\\sum_i w_i}, \\qquad
        s^2 = \\frac{n}{n-1}\\,\\frac{\\sum_i w_i (\\mu_i - \\bar x)^2}{\\sum_i w_i}
              + \\frac{\\sum_i w_i \\sigma_i^2}{\\sum_i w_i}

    with :math:`\\mu_i, \\sigma_i^2` from :func:`answer_moments`. For observed
    answers (:math:`\\sigma_i^2 = 0`) this is the usual weighted sample variance.

    Returns
    -------
    mean, variance, n
        ``n`` counts the respondents observed with positive weight.

    Examples
    --------
    >>> mixture_moments([[0.5, 0, 0.5], [0, 0.5, 0.5]])  # means 2, 2.5; within 1, 0.25
    (2.25, 0.75, 2)
    >>> mixture_moments([1, 2, 3])
    (2.0, 1.0, 3)
    """
    mu, var, s = _moments(ratings, weights, "ratings")
    m, v = _between_within(mu, var, s)
    return m, v, len(mu)


def cohens_d(x: Ratings, y: Ratings, wx: Weights = None, wy: Weights = None) -> float:
    """Cohen's d of two independent groups, on their answers, with the pooled SD.

    .. math::

        d = \\frac{\\bar x - \\bar y}
                 {\\sqrt{\\frac{(n_x - 1)s_x^2 + (n_y - 1)s_y^2}{n_x + n_y - 2}}}

    with :math:`\\bar x, s_x^2` the (weighted) mixture mean and variance of
    :func:`mixture_moments` and :math:`n_x` the number of respondents. For
    observed answers this is the textbook d; for answer distributions it is
    the d of the answers they stand for, not of their expectations.

    Examples
    --------
    >>> cohens_d([2, 4, 6], [1, 3, 5])
    0.5

    Two personas per group, each with a spread-out answer distribution:

    >>> x = [[0.5, 0, 0.5], [0, 0.5, 0.5]]  # expectations 2 and 2.5
    >>> y = [[1, 0, 0], [0.5, 0.5, 0]]  # expectations 1 and 1.5
    >>> round(cohens_d(x, y), 4)
    1.4142

    On the expectations alone the spread is lost and d doubles:

    >>> round(cohens_d([2, 2.5], [1, 1.5]), 4)
    2.8284
    """
    ma, va, sa = _moments(x, wx, "x")
    mb, vb, sb = _moments(y, wy, "y")
    mx, sx2 = _between_within(ma, va, sa)
    my, sy2 = _between_within(mb, vb, sb)
    na, nb = len(ma), len(mb)
    pooled = float(np.sqrt(((na - 1) * sx2 + (nb - 1) * sy2) / (na + nb - 2)))
    return _ratio(mx - my, pooled)


def _ratio(diff: float, sd: float) -> float:
    if sd == 0:
        return float("nan") if diff == 0 else float(np.sign(diff) * np.inf)
    return float(diff / sd)


def paired_cohens_d(x: Ratings, y: Ratings, w: Weights = None) -> float:
    """Cohen's :math:`d_z` of paired ratings (the same respondents rate two targets).

    With :math:`x_i, y_i` answers of respondent i drawn independently given
    the respondent, the difference has mean :math:`\\mu^x_i - \\mu^y_i` and
    variance :math:`\\sigma^{x\\,2}_i + \\sigma^{y\\,2}_i`, so

    .. math::

        \\bar\\Delta = \\frac{\\sum_i w_i (\\mu^x_i - \\mu^y_i)}{\\sum_i w_i}, \\qquad
        s_\\Delta^2 = \\frac{n}{n-1}\\,
            \\frac{\\sum_i w_i (\\mu^x_i - \\mu^y_i - \\bar\\Delta)^2}{\\sum_i w_i}
            + \\frac{\\sum_i w_i (\\sigma^{x\\,2}_i + \\sigma^{y\\,2}_i)}{\\sum_i w_i}, \\qquad
        d_z = \\frac{\\bar\\Delta}{s_\\Delta}

    Respondents missing either rating are left out. For observed answers this
    is the textbook :math:`d_z` = mean / SD of the differences.

    Examples
    --------
    >>> paired_cohens_d([4, 5, 3], [1, 3, 2])
    2.0
    >>> x = [[0, 0, 1], [0, 0.5, 0.5]]  # expectations 3 and 2.5
    >>> y = [[1, 0, 0], [0.5, 0.5, 0]]  # expectations 1 and 1.5
    >>> round(paired_cohens_d(x, y), 4)  # differences 2 and 1; within 0 and 0.5
    1.7321
    """
    mux, vx = answer_moments(x, "x")
    muy, vy = answer_moments(y, "y")
    if mux.shape != muy.shape:
        raise ValidationError("y", f"{len(muy)} paired ratings for {len(mux)} in x")
    s = _weights(w, len(mux), "weights")
    ok = np.isfinite(mux) & np.isfinite(muy) & np.isfinite(s) & (s > 0)
    if ok.sum() < 2:
        raise ValidationError("x", "needs at least 2 observed pairs")
    diff, var = mux[ok] - muy[ok], vx[ok] + vy[ok]
    m, v = _between_within(diff, var, s[ok])
    return _ratio(m, float(np.sqrt(v)))


@dataclass(frozen=True)
class Gap:
    """A perception gap: ``mean(x) - mean(y)`` and its effect size.

    ``x`` and ``y`` are what the gap contrasts (see :func:`perception_gap`);
    ``paired`` says whether ``d`` is the paired :math:`d_z`.
    """

    mean_x: float
    mean_y: float
    gap: float
    d: float
    n_x: int
    n_y: int
    paired: bool = False


def perception_gap(
    x: Ratings,
    y: Ratings,
    wx: Weights = None,
    wy: Weights = None,
    paired: bool = False,
) -> Gap:
    """The gap :math:`\\bar x - \\bar y` between two sets of ratings, with Cohen's d.

    The talk's three gaps are instances (ratings on a scale where higher means
    more negative, e.g. "a lot more immoral" = 5):

    * **hostility gap** of party P: x = P members' ratings of the opposing
      party, y = P members' ratings of their own party (paired: the same
      people give both, so ``d`` is :func:`paired_cohens_d` and ``wx``
      weighs the pairs);
    * **subversion gap** of party P: x = how the opposing party's members
      perceive P's willingness to subvert democracy, y = how P's members
      assess their own willingness;
    * **meta-perception gap** of party P: x = what P's members believe the
      opposing party thinks of P, y = the opposing party's actual ratings of P.

    Means are over answers (:func:`mixture_moments`): for distributions, the
    weighted mean of the respondents' expectations.

    Examples
    --------
    >>> g = perception_gap([4, 5, 5, 4], [2, 1, 2, 1])
    >>> g.gap, round(g.d, 3)
    (3.0, 5.196)
    >>> g = perception_gap([4, 5, 3], [1, 3, 2], paired=True)
    >>> g.gap, g.d, g.paired
    (2.0, 2.0, True)
    """
    if paired:
        mux, _ = answer_moments(x, "x")
        muy, _ = answer_moments(y, "y")
        s = _weights(wx, len(mux), "x weights")
        both = np.isfinite(mux) & np.isfinite(muy)
        d = paired_cohens_d(x, y, s)
        ok = both & np.isfinite(s) & (s > 0)
        mx = float((s[ok] * mux[ok]).sum() / s[ok].sum())
        my = float((s[ok] * muy[ok]).sum() / s[ok].sum())
        n = int(ok.sum())
        return Gap(mx, my, mx - my, d, n, n, True)
    mx, _, nx = mixture_moments(x, wx)
    my, _, ny = mixture_moments(y, wy)
    return Gap(mx, my, mx - my, cohens_d(x, y, wx, wy), nx, ny, False)


def answer_distribution(
    ratings: Ratings, weights: Weights = None, k: int | None = None
) -> np.ndarray:
    """The (weighted) distribution of answers over positions 1..K.

    Observed answers (1-d, integer positions) are counted; answer
    distributions (2-d) are averaged after normalising each row. Respondents
    without an answer are left out; with none at all the result is all NaN.

    Examples
    --------
    >>> answer_distribution([1, 3, 3, np.nan], k=3).tolist()
    [0.3333333333333333, 0.0, 0.6666666666666666]
    >>> answer_distribution([[1, 0], [0.5, 0.5]], weights=[1, 3]).tolist()
    [0.625, 0.375]
    """
    a = np.asarray(ratings, dtype=float)
    if a.ndim == 2:
        kk = a.shape[1] if k is None else k
        if kk != a.shape[1]:
            raise ValidationError("ratings", f"has {a.shape[1]} positions, expected {kk}")
        p = np.nan_to_num(a)
        mass = p.sum(axis=1)
        rows = p / np.where(mass > 0, mass, 1.0)[:, None]
        ok = mass > 0
    elif a.ndim == 1:
        if k is None:
            raise ValidationError("k", "needed for observed answers")
        kk = k
        ok = np.isfinite(a)
        pos = np.where(ok, a, 1).astype(int)
        if np.any((pos < 1) | (pos > kk)) or np.any(a[ok] != np.round(a[ok])):
            raise ValidationError("ratings", f"answers must be integer positions 1..{kk}")
        rows = np.eye(kk)[pos - 1]
    else:
        raise ValidationError(
            "ratings", f"must be (n,) answers or (n, K) distributions, got {a.shape}"
        )
    s = _weights(weights, len(a), "weights")
    ok = ok & np.isfinite(s) & (s > 0)
    if not ok.any():
        return np.full(kk, np.nan)
    out: np.ndarray = (s[ok, None] * rows[ok]).sum(axis=0) / s[ok].sum()
    return out


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

#: The perspectives (of :func:`~silico.core.prompts.make_variants`) each gap needs.
GAP_PERSPECTIVES = {
    "hostility": ("self", "own"),
    "meta_perception": ("meta", "self"),
    "subversion": ("outgroup", "self"),
}


def party_gaps(
    ratings: dict[str, np.ndarray],
    party: Sequence[str | None] | np.ndarray,
    parties: Sequence[str] = ("Democrats", "Republicans"),
    weights: Weights = None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    kinds: Sequence[str] = GAP_KINDS,
) -> list[dict[str, object]]:
    """The perception gaps of each party, with bootstrap intervals.

    Parameters
    ----------
    ratings : mapping perspective -> array (n,) or (n, K)
        Each respondent's answer (or answer distribution) to the variants of
        :func:`~silico.core.prompts.make_variants` as asked of their own
        party, oriented so that a higher position is more negative: ``self``
        (their rating of / action against the other party), ``own`` (their
        rating of their own party), ``outgroup`` (whether the other party would
        act against theirs) and ``meta`` (what they believe the other party
        would answer about theirs). NaN (or a row without mass) where not
        asked. Only the perspectives ``kinds`` need must be present.
    party : array (n,) of str
        Each respondent's party (one of ``parties``; others are left out).
    weights : array (n,), optional
        Survey weights (for personas: the weights of the humans they stand for).
    n_boot : int
        Bootstrap resamples. Respondents (for personas: whole answer
        distributions, i.e. clusters of answers) are resampled within each party.
    kinds : sequence of str
        Which of :data:`GAP_KINDS` to compute.

    Returns
    -------
    list of dict
        One row per party and gap kind: ``party``, ``gap`` (kind), ``mean_x``,
        ``mean_y``, ``value`` (mean_x - mean_y), ``d`` (Cohen's d on answers),
        their intervals ``value_low/high`` and ``d_low/high``, ``n_x``,
        ``n_y`` and ``paired``. For party P with out-party O:

        * hostility (rating items): x = P's ratings of O (``self``), y = P's
          ratings of P (``own``); paired, :func:`paired_cohens_d`;
        * meta_perception (rating items): x = what P believes O would answer
          about P (P's ``meta``), y = O's actual ratings of P (O's ``self``);
        * subversion (behaviour items, e.g. "would you support ignoring
          rulings by {target} judges?"): x = how O perceives P's willingness
          (O's ``outgroup`` answers: "would P support ... against O?"), y =
          P's own willingness (P's ``self`` answers).

    Examples
    --------
    >>> r = {"self": np.array([4., 5, 2, 1]), "own": np.array([1., 2, 4, 5]),
    ...      "meta": np.array([5., 5, 5, 4]), "outgroup": np.array([2., 2, 5, 5])}
    >>> rows = party_gaps(r, ["D", "D", "R", "R"], ("D", "R"), n_boot=0)
    >>> [(x["party"], x["gap"], x["value"]) for x in rows][:3]
    [('D', 'hostility', 3.0), ('D', 'meta_perception', 3.5), ('D', 'subversion', 0.5)]
    """
    if len(parties) != 2:
        raise ValidationError("parties", "needs exactly two parties")
    unknown = sorted(set(kinds) - set(GAP_KINDS))
    if unknown:
        raise ValidationError("kinds", f"unknown gap kinds {unknown}; known: {list(GAP_KINDS)}")
    for kind in kinds:
        for persp in GAP_PERSPECTIVES[kind]:
            if persp not in ratings:
                raise ValidationError(f"ratings.{persp}", f"missing (needed for the {kind} gap)")
    pa = np.asarray(party, dtype=object)
    n = len(pa)
    w = _weights(weights, n, "weights")
    r = {k: np.asarray(v, dtype=float) for k, v in ratings.items()}
    for k, v in r.items():
        if v.ndim not in (1, 2) or v.shape[0] != n:
            raise ValidationError(
                f"ratings.{k}", f"has shape {v.shape}, expected ({n},) or ({n}, K)"
            )
    members = {p: np.flatnonzero(pa == p) for p in parties}

    Contrast = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]

    def contrasts(idx: dict[str, np.ndarray]) -> dict[tuple[str, str], Contrast]:
        out = {}
        for own, other in ((parties[0], parties[1]), (parties[1], parties[0])):
            m, o = idx[own], idx[other]
            for kind in kinds:
                if kind == "hostility":
                    out[(own, kind)] = (r["self"][m], r["own"][m], w[m], w[m], True)
                elif kind == "meta_perception":
                    out[(own, kind)] = (r["meta"][m], r["self"][o], w[m], w[o], False)
                else:
                    out[(own, kind)] = (r["outgroup"][o], r["self"][m], w[o], w[m], False)
        return out

    def measure(
        x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray, paired: bool
    ) -> Gap | None:
        try:
            return perception_gap(x, y, wx, wy, paired=paired)
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
                "paired": kind == "hostility",
            }
        )
    order = {k: i for i, k in enumerate(GAP_KINDS)}
    rows.sort(key=lambda x: (list(parties).index(str(x["party"])), order[str(x["gap"])]))
    return rows
