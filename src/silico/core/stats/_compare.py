"""Human vs virtual comparison, its human split-half lower bound and bootstrap intervals."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from silico.core.errors import ValidationError
from silico.core.sampling import draw_responses
from silico.core.stats._distances import (
    cbs_distance,
    frobenius_distance,
    l1_distance,
    normalised_wasserstein,
    undefined_entries,
    wasserstein_ordinal,
)
from silico.core.stats._responses import Responses, cronbach_alpha, distributions, weighted_corr

#: The scalar metrics of a :class:`Comparison`, in table order.
METRICS = ("wd", "wd_norm", "frobenius", "cbs", "l1", "alpha_human", "alpha_virtual")
#: Counts that say why a metric is undefined (reported beside the metrics).
COUNTS = ("corr_undefined", "items_missing")
#: Prefix of the per-item WD entries in the dicts of :func:`compare_with_ci` and
#: :func:`split_half` (see :func:`item_key`).
ITEM_WD = "wd_item/"


def item_key(j: int) -> str:
    """The name of item ``j``'s raw WD in a dict of :func:`compare_with_ci` or :func:`split_half`.

    Per-item entries travel in the same name -> Interval dict as the scalar
    metrics, so every transport of that dict (a process, an RPC map) carries
    them without a schema of its own.

    >>> item_key(3)
    'wd_item/3'
    """
    return f"{ITEM_WD}{j}"


@dataclass(frozen=True)
class Comparison:
    """How close virtual responses are to human ones.

    Attributes
    ----------
    wd, wd_norm : float
        Mean over items of the Wasserstein distance on positions 1..K (raw) and
        divided by K-1 (normalised). NaN when an item the humans answered has
        no virtual response at all (``items_missing`` > 0): leaving such an
        item out of the mean could only flatter the simulation.
    wd_items : ndarray, shape (p,)
        Raw WD per item (NaN where a side has no response).
    frobenius, cbs, l1 : float
        Distances between the two correlation matrices over the entries the
        human matrix defines; NaN with < 2 items or when the virtual matrix
        leaves such an entry undefined (``corr_undefined`` > 0).
    alpha_human, alpha_virtual : float
        Cronbach's alpha of each side.
    corr_undefined : int
        Correlation entries defined for the humans but not for the virtual
        responses (a virtual item that never varies leaves its row undefined).
    items_missing : int
        Items with human responses but no virtual response.
    """

    wd: float
    wd_norm: float
    wd_items: np.ndarray
    frobenius: float
    cbs: float
    l1: float
    alpha_human: float
    alpha_virtual: float
    corr_undefined: int = 0
    items_missing: int = 0

    def scalars(self) -> dict[str, float]:
        """The scalar metrics and counts by name (see :data:`METRICS`, :data:`COUNTS`)."""
        return {m: float(getattr(self, m)) for m in (*METRICS, *COUNTS)}

    def item_scalars(self) -> dict[str, float]:
        """The raw WD of every item by :func:`item_key` (NaN where a side has no response)."""
        return {item_key(j): float(w) for j, w in enumerate(self.wd_items)}


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
    missing = 0
    for j, (a, b) in enumerate(zip(dh, dv, strict=True)):
        if not np.all(np.isfinite(a)):
            continue
        if not np.all(np.isfinite(b)):
            missing += 1
            continue
        wd[j] = wasserstein_ordinal(a, b)
        wdn[j] = normalised_wasserstein(a, b)
    if np.all(np.isnan(wd)):
        raise ValidationError("responses", "no item has responses on both sides")
    undefined = 0
    if human.p >= 2:
        ch = weighted_corr(human.values, human.weights)
        cv = weighted_corr(virtual.values, virtual.weights)
        undefined = undefined_entries(ch, cv)
        try:
            fro, cbs, l1 = frobenius_distance(ch, cv), cbs_distance(ch, cv), l1_distance(ch, cv)
        except ValidationError:
            fro = cbs = l1 = float("nan")
        ah = cronbach_alpha(human.values, human.weights)
        av = cronbach_alpha(virtual.values, virtual.weights)
    else:
        fro = cbs = l1 = ah = av = float("nan")
    mean_wd = float("nan") if missing else float(np.nanmean(wd))
    mean_wdn = float("nan") if missing else float(np.nanmean(wdn))
    return Comparison(mean_wd, mean_wdn, wd, fro, cbs, l1, ah, av, undefined, missing)


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


#: Halves smaller than this make the split-half figure a poor bound (its own
#: sampling noise inflates it); the report warns below it.
MIN_HALF = 30


def split_half_note(n: int, min_half: int = MIN_HALF) -> str:
    """A warning when halves of ``n`` respondents are too small for a lower bound ('' if fine).

    >>> split_half_note(40)
    'halves of 20 respondents (< 30): the split-half figure carries the sampling noise of 20-respondent samples and overstates what a perfect simulation of 40 would reach; read it as a rough reference, not a bound'
    >>> split_half_note(200)
    ''
    """
    half = n // 2
    if half >= min_half:
        return ""
    return (
        f"halves of {half} respondents (< {min_half}): the split-half figure carries the "
        f"sampling noise of {half}-respondent samples and overstates what a perfect "
        f"simulation of {n} would reach; read it as a rough reference, not a bound"
    )


def _mean_interval(values: np.ndarray, level: float) -> Interval:
    """Mean with a t-interval for the mean (Monte Carlo error over iterations)."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    mean = float(v.mean())
    if len(v) < 2:
        return Interval(mean, float("nan"), float("nan"), 1)
    half = float(sps.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return Interval(mean, mean - half, mean + half, int(len(v)))


def split_half(
    human: Responses, n_iter: int, rng: np.random.Generator, level: float = 0.95
) -> dict[str, Interval]:
    """The human split-half lower bound of every metric: a mean with a CI on that mean.

    Each iteration splits the respondents at random into two halves of
    ``n // 2`` and compares one half (as "human") with the other (as
    "virtual"). The estimate is the mean over iterations (paper: 100;
    released code: 20) and the interval is a t-interval for that mean
    (:math:`\\bar m \\pm t_{N-1}\\, s/\\sqrt{N}`), not the spread of single
    splits. ``Interval.n`` is the number of iterations where the metric was
    defined. See :func:`split_half_note` for when halves are too small.

    Besides the metrics, the dict holds every item's WD between the halves
    (:func:`item_key`), averaged over the same splits with the same kind of
    interval: the per-item bound of :func:`items_within_noise`.

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
        try:
            c = compare(human.take(perm[:half]), human.take(perm[half : 2 * half]))
            rows.append(c.scalars() | c.item_scalars())
        except ValidationError:
            continue
    names = (*METRICS, *COUNTS, *(item_key(j) for j in range(human.p)))
    return {m: _mean_interval(np.array([r[m] for r in rows], dtype=float), level) for m in names}


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


#: How :func:`compare_with_ci` resamples, in the report's words.
BOOTSTRAP_METHOD = (
    "percentile bootstrap clustered by persona: each replicate resamples personas with "
    "replacement (with all the respondents matched to them; a baseline prompt is its own "
    "cluster) and re-draws every virtual answer from its persona's answer distribution"
)


def _nan_scalars() -> dict[str, float]:
    return {m: float("nan") for m in (*METRICS, *COUNTS)}


def compare_with_ci(
    human: Responses,
    virtual: Responses,
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
    dists: np.ndarray | None = None,
    clusters: Sequence[int] | np.ndarray | None = None,
) -> dict[str, Interval]:
    """:func:`compare` with bootstrap intervals that carry every source of variation.

    Virtual row ``i`` belongs to human ``i``. Each replicate draws clusters
    with replacement and takes all their rows on both sides; with ``dists``,
    the virtual answers of the drawn rows are re-drawn from their answer
    distributions, so the interval includes the draw of individual answers,
    not only the choice of respondents. A persona matched to 27 humans is one
    cluster: one source of variation, not 27 (see :data:`BOOTSTRAP_METHOD`).

    Parameters
    ----------
    human, virtual : Responses
        One virtual row per human row.
    n_boot : int
    rng : numpy.random.Generator
    level : float
    dists : ndarray, shape (n, p, K_max), optional
        The answer distribution each virtual row was drawn from (NaN rows:
        no answer).
    clusters : array of int, shape (n,), optional
        Cluster of each row (the matched persona); each row its own cluster
        when omitted.

    Returns
    -------
    dict name -> Interval
        Metrics and counts, and every item's raw WD (:func:`item_key`) from
        the same replicates; ``Interval.n`` is the number of replicates where
        the figure was defined.
    """
    _checked_pair(human, virtual)
    n = human.n
    if virtual.n != n:
        raise ValidationError("virtual", "paired bootstrap needs one virtual row per human")
    if n_boot < 1:
        raise ValidationError("bootstrap", "needs n_boot >= 1")
    cl = np.arange(n) if clusters is None else np.asarray(clusters)
    if cl.shape != (n,):
        raise ValidationError("clusters", f"need one cluster per row ({n})")
    if dists is not None and np.asarray(dists).shape[:2] != (n, human.p):
        raise ValidationError("dists", f"need shape ({n}, {human.p}, K)")
    _, inv = np.unique(cl, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(int(inv.max()) + 1)]
    c = compare(human, virtual)
    full = c.scalars() | c.item_scalars()
    draws: dict[str, list[float]] = {k: [] for k in full}
    for _ in range(n_boot):
        pick = rng.integers(0, len(members), size=len(members))
        rows = np.concatenate([members[g] for g in pick])
        v = virtual.take(rows)
        if dists is not None:
            vals = draw_responses(np.asarray(dists)[rows], human.ks, int(rng.integers(2**62)))
            v = Responses(vals, virtual.ks, v.weights)
        try:
            b = compare(human.take(rows), v)
            stats = b.scalars() | b.item_scalars()
        except ValidationError:
            stats = dict.fromkeys(full, float("nan"))
        for k in full:
            draws[k].append(stats[k])
    return {k: _interval(np.array(draws[k]), float(full[k]), level) for k in full}


_NO_INTERVAL = Interval(float("nan"), float("nan"), float("nan"), 0)


def item_intervals(ci: Mapping[str, Interval], p: int) -> list[Interval]:
    """The per-item WD intervals of a :func:`compare_with_ci` or :func:`split_half` dict.

    An item the dict does not carry (a comparison that failed as a whole) is
    all NaN, never 0.
    """
    return [ci.get(item_key(j), _NO_INTERVAL) for j in range(p)]


@dataclass(frozen=True)
class ItemNoise:
    """One item: the virtual-human WD beside the humans' own split-half WD.

    Attributes
    ----------
    wd : Interval
        Raw WD between virtual and human answers with its clustered bootstrap
        interval (:func:`compare_with_ci`).
    bound : Interval
        Raw WD between two random halves of the humans: mean over the splits
        with a t-interval for that mean (:func:`split_half`).
    """

    wd: Interval
    bound: Interval

    @property
    def within(self) -> bool:
        """Whether the simulation is within human noise on this item.

        True exactly when the WD estimate and both interval ends it is judged
        by are defined and ``wd.low <= bound.high``: the virtual interval
        overlaps the human interval or lies below it, so the data cannot tell
        the simulation's distance from that of two halves of the humans. An
        item without a virtual (or human) distance is never within.

        >>> ItemNoise(Interval(0.3, 0.2, 0.4, 9), Interval(0.25, 0.22, 0.28, 9)).within
        True
        >>> ItemNoise(Interval(0.5, 0.4, 0.6, 9), Interval(0.25, 0.22, 0.28, 9)).within
        False
        >>> ItemNoise(Interval(float("nan"), float("nan"), float("nan"), 0),
        ...           Interval(0.25, 0.22, 0.28, 9)).within
        False
        """
        ends = (self.wd.estimate, self.wd.low, self.bound.high)
        if not all(np.isfinite(x) for x in ends):
            return False
        # Tolerance for round-off only: replicates of identical samples give 0.
        return bool(self.wd.low <= self.bound.high + 1e-12)


def items_within_noise(
    ci: Mapping[str, Interval], lower: Mapping[str, Interval], p: int
) -> list[ItemNoise]:
    """Per item, a panel's WD interval (from ``ci`` of :func:`compare_with_ci`) beside the
    human split-half WD interval (from ``lower`` of :func:`split_half`)."""
    return [
        ItemNoise(w, b)
        for w, b in zip(item_intervals(ci, p), item_intervals(lower, p), strict=True)
    ]


@dataclass(frozen=True)
class Subgroup:
    """One subgroup's comparison: metrics with intervals, and a warning when it is small."""

    n: int
    metrics: dict[str, Interval]
    warning: str = ""


def _group_masks(g: np.ndarray) -> dict[str, np.ndarray]:
    labels = sorted({str(x) for x in g if x is not None and x == x and str(x) != ""})
    return {
        label: np.array([x is not None and x == x and str(x) == label for x in g])
        for label in labels
    }


def _small_note(n: int, min_size: int) -> str:
    return (
        f"only {n} respondents (< {min_size}): too few for stable figures" if n < min_size else ""
    )


def by_subgroup(
    human: Responses,
    virtual: Responses,
    groups: Sequence[object] | np.ndarray,
    min_size: int = 30,
    n_boot: int = 0,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
    dists: np.ndarray | None = None,
    clusters: Sequence[int] | np.ndarray | None = None,
) -> dict[str, Subgroup]:
    """:func:`compare_with_ci` within each subgroup of humans (virtual rows follow their human).

    Every group is reported: one smaller than ``min_size`` carries a warning
    instead of being dropped silently. A group where no metric can be
    computed (no item answered on both sides) has NaN metrics and says so.

    Parameters
    ----------
    human, virtual : Responses
        Virtual row ``i`` is matched to human ``i``.
    groups : sequence, shape (n,)
        Group label per human; ``None``/NaN/empty labels are left out.
    min_size : int
        Groups below it are flagged.
    n_boot : int
        Bootstrap replicates (0: point estimates only, NaN intervals).
    dists, clusters
        As for :func:`compare_with_ci`.
    """
    _checked_pair(human, virtual)
    g = np.asarray(groups, dtype=object)
    if g.shape != (human.n,) or virtual.n != human.n:
        raise ValidationError("groups", f"need one label per human ({human.n})")
    rng = rng or np.random.default_rng(0)
    cl = np.arange(human.n) if clusters is None else np.asarray(clusters)
    out = {}
    for label, mask in _group_masks(g).items():
        n = int(mask.sum())
        note = _small_note(n, min_size)
        h, v = human.take(mask), virtual.take(mask)
        d = None if dists is None else np.asarray(dists)[mask]
        try:
            if n_boot > 0:
                metrics = compare_with_ci(h, v, n_boot, rng, level, d, cl[mask])
            else:
                c = compare(h, v).scalars()
                metrics = {k: Interval(x, float("nan"), float("nan"), 0) for k, x in c.items()}
        except ValidationError as e:
            metrics = {
                k: Interval(float("nan"), float("nan"), float("nan"), 0) for k in _nan_scalars()
            }
            note = "; ".join(x for x in (note, f"no metric: {e.message}") if x)
        out[label] = Subgroup(n, metrics, note)
    return out


def subgroup_lower_bounds(
    human: Responses,
    groups: Sequence[object] | np.ndarray,
    n_iter: int,
    rng: np.random.Generator,
    level: float = 0.95,
    min_size: int = 30,
) -> dict[str, Subgroup]:
    """The human split-half lower bound within each subgroup (NaN below 4 respondents)."""
    g = np.asarray(groups, dtype=object)
    if g.shape != (human.n,):
        raise ValidationError("groups", f"need one label per human ({human.n})")
    out = {}
    for label, mask in _group_masks(g).items():
        n = int(mask.sum())
        notes = [_small_note(n, min_size), split_half_note(n)]
        try:
            lb = split_half(human.take(mask), n_iter, rng, level)
        except ValidationError as e:
            lb = {k: Interval(float("nan"), float("nan"), float("nan"), 0) for k in _nan_scalars()}
            notes.append(f"no lower bound: {e.message}")
        out[label] = Subgroup(n, lb, "; ".join(x for x in notes if x))
    return out
