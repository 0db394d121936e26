"""Human vs virtual comparison, its human split-half lower bound and bootstrap intervals."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from silico.core.errors import ValidationError
from silico.core.stats._distances import (
    cbs_distance,
    frobenius_distance,
    l1_distance,
    normalised_wasserstein,
    wasserstein_ordinal,
)
from silico.core.stats._responses import Responses, cronbach_alpha, distributions, weighted_corr

#: The scalar metrics of a :class:`Comparison`, in table order.
METRICS = ("wd", "wd_norm", "frobenius", "cbs", "l1", "alpha_human", "alpha_virtual")


@dataclass(frozen=True)
class Comparison:
    """How close virtual responses are to human ones.

    Attributes
    ----------
    wd, wd_norm : float
        Mean over items of the Wasserstein distance on positions 1..K (raw) and
        divided by K-1 (normalised).
    wd_items : ndarray, shape (p,)
        Raw WD per item (NaN where a side has no response).
    frobenius, cbs, l1 : float
        Distances between the two correlation matrices (NaN with < 2 items).
    alpha_human, alpha_virtual : float
        Cronbach's alpha of each side.
    """

    wd: float
    wd_norm: float
    wd_items: np.ndarray
    frobenius: float
    cbs: float
    l1: float
    alpha_human: float
    alpha_virtual: float

    def scalars(self) -> dict[str, float]:
        """The scalar metrics by name (see :data:`METRICS`)."""
        return {m: float(getattr(self, m)) for m in METRICS}


def _checked_pair(human: Responses, virtual: Responses) -> None:
    if human.p != virtual.p or not np.array_equal(human.ks, virtual.ks):
        raise ValidationError("virtual", "human and virtual responses must cover the same items")


def compare(human: Responses, virtual: Responses) -> Comparison:
    """All distribution and correlation metrics between human and virtual responses.

    Human distributions and correlations use the human survey weights; the
    virtual side uses its own weights (a matched persona inherits its human's
    weight, so matched panels are weighted like the survey).

    Parameters
    ----------
    human, virtual : Responses
        Same items (``ks``); any numbers of respondents.
    """
    _checked_pair(human, virtual)
    dh, dv = distributions(human), distributions(virtual)
    wd = np.full(human.p, np.nan)
    wdn = np.full(human.p, np.nan)
    for j, (a, b) in enumerate(zip(dh, dv, strict=True)):
        if np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
            wd[j] = wasserstein_ordinal(a, b)
            wdn[j] = normalised_wasserstein(a, b)
    if np.all(np.isnan(wd)):
        raise ValidationError("responses", "no item has responses on both sides")
    if human.p >= 2:
        ch = weighted_corr(human.values, human.weights)
        cv = weighted_corr(virtual.values, virtual.weights)
        try:
            fro, cbs, l1 = frobenius_distance(ch, cv), cbs_distance(ch, cv), l1_distance(ch, cv)
        except ValidationError:
            fro = cbs = l1 = float("nan")
        ah = cronbach_alpha(human.values, human.weights)
        av = cronbach_alpha(virtual.values, virtual.weights)
    else:
        fro = cbs = l1 = ah = av = float("nan")
    return Comparison(float(np.nanmean(wd)), float(np.nanmean(wdn)), wd, fro, cbs, l1, ah, av)


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile interval."""

    estimate: float
    low: float
    high: float
    n: int


def _interval(values: np.ndarray, estimate: float, level: float) -> Interval:
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return Interval(estimate, float("nan"), float("nan"), 0)
    a = (1.0 - level) / 2.0
    return Interval(estimate, float(np.quantile(v, a)), float(np.quantile(v, 1.0 - a)), int(len(v)))


def split_half(
    human: Responses, n_iter: int, rng: np.random.Generator, level: float = 0.95
) -> dict[str, Interval]:
    """The human split-half lower bound of every metric.

    Each iteration splits the respondents at random into two halves and
    compares one half (as "human") with the other (as "virtual"); the result is
    the mean over iterations with a percentile interval over iterations
    (paper: 100 iterations; released code: 20).

    Parameters
    ----------
    human : Responses
    n_iter : int
    rng : numpy.random.Generator
    level : float
        Coverage of the interval.

    Returns
    -------
    dict metric -> Interval
    """
    if n_iter < 1:
        raise ValidationError("split_half.iterations", "must be >= 1")
    if human.n < 4:
        raise ValidationError("humans", "split-half needs at least 4 respondents")
    half = human.n // 2
    rows = []
    for _ in range(n_iter):
        perm = rng.permutation(human.n)
        c = compare(human.take(perm[:half]), human.take(perm[half : 2 * half]))
        rows.append(c.scalars())
    out = {}
    for m in METRICS:
        v = np.array([r[m] for r in rows])
        est = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        out[m] = _interval(v, est, level)
    return out


def bootstrap(
    statistic: Callable[[np.ndarray], Mapping[str, float]],
    n: int,
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals over respondents.

    ``statistic(rows)`` computes named statistics on the respondents ``rows``
    (an index array); it is called once on ``arange(n)`` for the estimate and
    ``n_boot`` times on resamples drawn with replacement.

    Examples
    --------
    >>> x = np.arange(10.0)
    >>> ci = bootstrap(lambda r: {"mean": x[r].mean()}, 10, 200, np.random.default_rng(0))
    >>> ci["mean"].estimate, ci["mean"].low < 4.5 < ci["mean"].high
    (4.5, True)
    """
    if n < 1 or n_boot < 1:
        raise ValidationError("bootstrap", "needs n >= 1 and n_boot >= 1")
    full = statistic(np.arange(n))
    draws: dict[str, list[float]] = {k: [] for k in full}
    for _ in range(n_boot):
        stats = statistic(rng.integers(0, n, size=n))
        for k in full:
            draws[k].append(float(stats[k]))
    return {k: _interval(np.array(draws[k]), float(full[k]), level) for k in full}


def compare_with_ci(
    human: Responses, virtual: Responses, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> dict[str, Interval]:
    """:func:`compare` with bootstrap intervals, resampling matched pairs.

    Virtual row ``i`` is the persona matched to human ``i``, so both sides
    are resampled with the same indices.
    """
    _checked_pair(human, virtual)
    if human.n != virtual.n:
        raise ValidationError("virtual", "paired bootstrap needs one virtual row per human")
    return bootstrap(
        lambda r: compare(human.take(r), virtual.take(r)).scalars(), human.n, n_boot, rng, level
    )


def by_subgroup(
    human: Responses, virtual: Responses, groups: Sequence[object] | np.ndarray, min_size: int = 10
) -> dict[str, Comparison]:
    """:func:`compare` within each subgroup of humans (virtual rows follow their human).

    Parameters
    ----------
    human, virtual : Responses
        Virtual row ``i`` is matched to human ``i``.
    groups : sequence, shape (n,)
        Group label per human; ``None``/NaN/empty labels are left out.
    min_size : int
        Smaller groups are skipped (too few to say anything).
    """
    _checked_pair(human, virtual)
    g = np.asarray(groups, dtype=object)
    if g.shape != (human.n,) or virtual.n != human.n:
        raise ValidationError("groups", f"need one label per human ({human.n})")
    out = {}
    labels = sorted({str(x) for x in g if x is not None and x == x and str(x) != ""})
    for label in labels:
        mask = np.array([x is not None and x == x and str(x) == label for x in g])
        if mask.sum() < min_size:
            continue
        try:
            out[label] = compare(human.take(mask), virtual.take(mask))
        except ValidationError:
            continue
    return out
