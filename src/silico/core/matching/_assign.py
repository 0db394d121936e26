"""Assignment of personas to humans: greedy, Hungarian, random, capacity-constrained.

At scale (10k humans x 40k personas) no method here builds the dense weight
matrix. A cheap screen (:class:`~silico.core.matching._weights.Screen`, one
float32 matrix product per block of humans, with an error bound) ranks the
personas of each distinct human profile; only the few candidates whose order
could matter are scored exactly, and any human the bound cannot settle falls
back to its exact row. Greedy and capacity results are therefore identical to
scoring every pair exactly, ties included; the Hungarian solution is certified
optimal for the full problem by linear-programming duality (see
:func:`hungarian_match`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment, linprog
from scipy.sparse import csr_array
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from silico.core.errors import ValidationError
from silico.core.matching._weights import MatchProblem

#: Rows computed at once when a matrix is built block by block (bounded memory).
_BLOCK_BYTES = 32 * 2**20

#: Screen block size: large enough that each product amortises BLAS packing
#: the persona table, small enough that the reductions after it stay cheap.
_SCREEN_BYTES = 48 * 2**20

#: Below this many pairs the dense Hungarian is fast enough and simplest.
_SPARSE_MIN_PAIRS = 2**22

#: Candidates per human for the sparse Hungarian (grown where duality says so).
HUNGARIAN_CANDIDATES = 16

#: Rounds of "solve, check duals, add violating pairs" before going dense.
_MAX_ROUNDS = 8

#: Candidates per profile kept for the capacity greedy, beyond those its own
#: duplicates use up.
_CAPACITY_CANDIDATES = 6

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
    detail : dict
        How the solution was found (solver, candidates, optimality
        certificate); informative only, not part of equality.
    """

    persona: np.ndarray
    log_weight: np.ndarray
    method: str
    detail: dict[str, object] = field(default_factory=dict, compare=False)


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


def _blocks(
    n: int, n_cols: int, bytes_per: int = 8, budget: int = _BLOCK_BYTES
) -> list[np.ndarray]:
    size = max(1, budget // (bytes_per * max(n_cols, 1)))
    return [np.arange(s, min(s + size, n)) for s in range(0, n, size)]


# --- the screen: ranked candidates with a bound on everything left out ---------


class _Weights:
    """A weight matrix as the assignment code reads it.

    ``screen`` fills a block with approximate rows (``out + shift`` within
    ``error`` of the exact weights); ``pairs`` and ``rows`` give exact ones.
    Rows of humans with identical weights share a profile.
    """

    def __init__(self, w: MatchProblem | np.ndarray) -> None:
        self.w = w
        self.n_humans, self.n_personas = _shape(w)
        self.dtype = np.dtype(np.float64 if isinstance(w, np.ndarray) else np.float32)

    def profiles(self) -> tuple[np.ndarray, np.ndarray]:
        """One representative human per distinct row, and each human's profile."""
        if isinstance(self.w, np.ndarray):
            idx = np.arange(self.n_humans)
            return idx, idx
        _, inverse = self.w.profiles()
        rep = np.empty(int(inverse.max()) + 1, dtype=np.int64)
        rep[inverse[::-1]] = np.arange(self.n_humans)[::-1]
        return rep, inverse

    def screen(self, humans: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self.w, np.ndarray):
            # -inf weights become the lowest finite value so padding stays
            # strictly last; exact weights only ever sit below the screen.
            np.maximum(self.w[humans], -np.finfo(float).max, out=out[:, : self.n_personas])
            out[:, self.n_personas :] = -np.inf
            zero = np.zeros(len(humans))
            return zero, zero
        return self.w.screen.block(self.w.human_categories[humans], out)

    def pairs(self, humans: np.ndarray, personas: np.ndarray) -> np.ndarray:
        if isinstance(self.w, np.ndarray):
            return np.asarray(self.w[humans, personas], dtype=float)
        return self.w.pairs(humans, personas)

    def rows(self, humans: np.ndarray) -> np.ndarray:
        return _rows(self.w, humans)

    def dense(self) -> np.ndarray:
        return self.w if isinstance(self.w, np.ndarray) else self.w.dense()


def _layout(n_personas: int, m: int) -> tuple[int, int]:
    """(chunk length, number of chunks) for picking the top ``m + 1`` of a row.

    With :math:`n` chunks, chunk :math:`j` holds columns :math:`j, j + n,
    j + 2n, \\dots`, so all chunk maxima come from one strided reduction.
    The top :math:`m+1` entries lie in the :math:`m+1` chunks with the
    largest maxima; a chunk length of about :math:`\\sqrt{V/(m+1)}` balances
    the two partial sorts (over chunk maxima, then over the chosen chunks).
    ``(1, V)`` means: no chunks, partially sort whole rows.
    """
    length = max(1, math.isqrt(n_personas // (m + 1)))
    chunks = -(-n_personas // length)
    if chunks <= 2 * (m + 1):
        return 1, n_personas
    return length, chunks


def _top(buf: np.ndarray, m: int, length: int, chunks: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``m`` largest columns of each row (any order) and the next largest value."""
    n, width = buf.shape
    k = m + 1
    # Gathers go through flat indices: one integer index per element is far
    # cheaper than numpy's multi-array fancy indexing.
    flat = buf.reshape(-1)
    if length > 1:
        best = np.argpartition(buf.reshape(n, length, chunks).max(axis=1), chunks - k, axis=1)
        best = best[:, chunks - k :]
        cols = (np.arange(length)[None, :, None] * chunks + best[:, None, :]).reshape(n, -1)
        vals = flat.take(cols + (np.arange(n) * width)[:, None])
    else:
        cols, vals = None, buf
    size = vals.shape[1]
    part = np.argpartition(vals, size - k, axis=1)[:, size - k :]
    at = part + (np.arange(n) * size)[:, None]
    pv = vals.reshape(-1).take(at)
    pc = part if cols is None else cols.reshape(-1).take(at)
    last = pv.argmin(axis=1)
    keep = np.ones(pv.shape, dtype=bool)
    keep[np.arange(n), last] = False
    return pc[keep].reshape(n, m), pv[np.arange(n), last].astype(float)


@dataclass
class _Candidates:
    """Per profile, candidate personas with exact weights and a bound on the rest.

    Profile ``p`` owns ``cols[ptr[p]:ptr[p+1]]`` (weights ``vals``); every
    persona left out has an exact weight of at most ``bound[p]``.
    """

    ptr: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    bound: np.ndarray


def _candidates(src: _Weights, reps: np.ndarray, need: np.ndarray) -> _Candidates:
    """At least ``need[p]`` best personas of each profile, by the screen, scored exactly."""
    v = src.n_personas
    n_prof = len(reps)
    need = np.minimum(np.maximum(need, 1), v)
    order = np.argsort(need, kind="stable")
    count = np.empty(n_prof, dtype=np.int64)
    bound = np.full(n_prof, -np.inf)
    found: list[tuple[np.ndarray, np.ndarray]] = []
    budget = _SCREEN_BYTES // src.dtype.itemsize
    buf = np.empty(0, dtype=src.dtype)
    s = 0
    while s < n_prof:
        m = int(need[order[s]])
        if m >= v:
            blk = order[s:]
            found.append((blk, np.broadcast_to(np.arange(v), (len(blk), v))))
            count[blk] = v
            break
        length, chunks = _layout(v, m)
        width = length * chunks
        rows = max(1, budget // width)
        # Profiles sorted by need: the block's last one sets its m.
        blk = order[s : s + rows]
        m = int(need[blk[-1]])
        if m >= v:
            blk = blk[need[blk] < v]
            m = int(need[blk[-1]])
        length, chunks = _layout(v, m)
        width = length * chunks
        if buf.size < len(blk) * width:
            buf = np.empty(len(blk) * width, dtype=src.dtype)
        b = buf[: len(blk) * width].reshape(len(blk), width)
        shift, error = src.screen(reps[blk], b)
        cols, nxt = _top(b, m, length, chunks)
        found.append((blk, cols))
        count[blk] = m
        bound[blk] = nxt + shift + error
        s += len(blk)
    ptr = np.concatenate([[0], np.cumsum(count)])
    cols_all = np.empty(int(ptr[-1]), dtype=np.int64)
    for blk, cols in found:
        at = (ptr[blk][:, None] + np.arange(cols.shape[1])).ravel()
        cols_all[at] = cols.ravel()
    owner = np.repeat(reps, count)
    return _Candidates(ptr, cols_all, src.pairs(owner, cols_all), bound)


# --- greedy ----------------------------------------------------------------------


def greedy_match(w: MatchProblem | np.ndarray) -> Matching:
    """Each human takes its most likely persona; personas may be reused.

    .. math:: \\sigma(h) = \\arg\\max_v \\log w(h, v)

    Ties go to the lowest persona index. Work is done once per distinct human
    profile: the screen's top persona is taken when its exact weight beats the
    screen's bound on every other persona, otherwise the profile's exact row
    decides, so the result is that of the exact weights.

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
    if isinstance(w, np.ndarray):
        best = w.argmax(axis=1)
        return Matching(best, w[np.arange(h), best], "greedy")
    if h == 0:
        return Matching(np.zeros(0, dtype=np.int64), np.zeros(0), "greedy")
    src = _Weights(w)
    reps, inverse = src.profiles()
    n_prof = len(reps)
    best = np.empty(n_prof, dtype=np.int64)
    score = np.empty(n_prof)
    unsure: list[np.ndarray] = []
    buf = np.empty(0, dtype=src.dtype)
    for blk in _blocks(n_prof, v, src.dtype.itemsize, _SCREEN_BYTES):
        if buf.size < len(blk) * v:
            buf = np.empty(len(blk) * v, dtype=src.dtype)
        b = buf[: len(blk) * v].reshape(len(blk), v)
        shift, error = src.screen(reps[blk], b)
        r = np.arange(len(blk))
        top = b.argmax(axis=1)
        b[r, top] = -np.inf
        runner_up = b.max(axis=1).astype(float)
        exact = src.pairs(reps[blk], top)
        best[blk], score[blk] = top, exact
        unsure.append(blk[~(exact > runner_up + shift + error)])
    todo = np.concatenate(unsure)
    for blk in _blocks(len(todo), v):
        rows = src.rows(reps[todo[blk]])
        top = rows.argmax(axis=1)
        best[todo[blk]], score[todo[blk]] = top, rows[np.arange(len(blk)), top]
    return Matching(
        best[inverse],
        score[inverse],
        "greedy",
        {"profiles": n_prof, "exact_rows": len(todo)},
    )


# --- Hungarian -------------------------------------------------------------------


def hungarian_match(
    w: MatchProblem | np.ndarray,
    raw: bool = False,
    *,
    solver: str = "auto",
    candidates: int = HUNGARIAN_CANDIDATES,
) -> Matching:
    """One-to-one assignment maximising the total log weight, or the total raw weight.

    .. math:: \\max_{\\sigma \\text{ injective}} \\sum_h \\log w(h, \\sigma(h))
              \\quad\\text{or, with } \\texttt{raw}, \\quad
              \\max_{\\sigma} \\sum_h w(h, \\sigma(h))

    Needs at least as many personas as humans. ``raw=True`` is the released
    Anthology code's objective (a sum of likelihood products): it favours the
    pairs with the largest products and cares little for the rest, while the
    log form maximises the joint likelihood of the whole assignment.
    ``Matching.log_weight`` holds log weights either way.

    The dense solver is :func:`scipy.optimize.linear_sum_assignment` on the
    whole matrix. The sparse one keeps each human's ``candidates`` best
    personas by the screen (more for humans sharing a profile), solves that
    graph with :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`
    (or, when many humans share profiles, the equivalent transportation LP
    over profiles with HiGHS, whose basic solutions are 0/1), and proves the
    result optimal for the full matrix. With :math:`f(h,v)` the objective
    weight, it computes the smallest persona prices :math:`p_v \\ge 0` that
    make the solution's pairs tight (:math:`u_h = f(h, \\sigma(h)) -
    p_{\\sigma(h)}`, a longest-path fixed point on the candidate graph) and
    checks :math:`u_h + p_v \\ge f(h, v)` for *every* pair, left-out pairs
    through the screen's error bound. Such a feasible dual of the assignment
    LP bounds the optimum, :math:`\\max \\le \\sum_h u_h + \\sum_v p_v`,
    which equals the solution's total. Pairs that violate the check are added
    and the graph re-solved; should that not settle within a few rounds, the
    dense solver takes over. ``Matching.detail`` reports the solver, rounds,
    pairs, rows checked exactly and the certified gap ``gap_bound`` (the
    full optimum exceeds the solution by at most that; ``exact`` when it is
    rounding noise).

    Parameters
    ----------
    w : MatchProblem or ndarray, shape (H, V)
    raw : bool
    solver : {"auto", "dense", "sparse"}
        ``auto`` is sparse from :math:`2^{22}` pairs on (finite weights only).
    candidates : int
        Starting candidates per human for the sparse solver.

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
    if solver not in ("auto", "dense", "sparse"):
        raise ValidationError("matching.solver", f"unknown solver {solver!r}")
    if candidates < 1:
        raise ValidationError("matching.candidates", "must be >= 1")
    finite = not isinstance(w, np.ndarray) or bool(np.isfinite(w).all())
    sparse = solver == "sparse" or (solver == "auto" and h * v >= _SPARSE_MIN_PAIRS)
    if sparse and finite and h > 0:
        out = _sparse_hungarian(_Weights(w), raw, candidates)
        if out is not None:
            return out
        detail: dict[str, object] = {"solver": "dense", "sparse_check": "failed"}
    else:
        detail = {"solver": "dense"}
    m = w if isinstance(w, np.ndarray) else w.dense()
    rows, cols = linear_sum_assignment(np.exp(m) if raw else m, maximize=True)
    persona = np.empty(h, dtype=np.int64)
    persona[rows] = cols
    return Matching(persona, m[np.arange(h), persona], "hungarian", detail)


def _objective(x: np.ndarray, raw: bool) -> np.ndarray:
    return np.exp(x) if raw else x


def _ragged(ptr: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """Positions ``ptr[o]..ptr[o+1]-1`` for each owner in turn, concatenated."""
    counts = ptr[owners + 1] - ptr[owners]
    starts = np.repeat(ptr[owners] - np.cumsum(counts) + counts, counts)
    return starts + np.arange(int(counts.sum()))


@dataclass
class _Graph:
    """Candidate pairs at the profile level, sorted by (profile, persona).

    Humans sharing a profile have identical rows, so the problem is a
    transportation problem: profile :math:`q` must place :math:`d_q` humans
    on distinct personas. Its LP dual has one :math:`U_q` per profile and
    one price :math:`p_v \\ge 0` per persona.
    """

    prof: np.ndarray
    pers: np.ndarray
    weight: np.ndarray
    ptr: np.ndarray

    @classmethod
    def of(
        cls, prof: np.ndarray, pers: np.ndarray, weight: np.ndarray, n: tuple[int, int]
    ) -> _Graph:
        key, first = np.unique(prof * n[1] + pers, return_index=True)
        prof = key // n[1]
        return cls(prof, key % n[1], weight[first], np.searchsorted(prof, np.arange(n[0] + 1)))

    def lookup(self, prof: np.ndarray, pers: np.ndarray, n_personas: int) -> np.ndarray:
        return np.searchsorted(self.prof * n_personas + self.pers, prof * n_personas + pers)


def _sparse_hungarian(src: _Weights, raw: bool, k: int) -> Matching | None:
    """The sparse, duality-certified Hungarian; None when the dense one should decide."""
    h, v = src.n_humans, src.n_personas
    reps, inverse = src.profiles()
    dup = np.bincount(inverse)
    n_prof = len(reps)
    # Humans sharing a profile compete for the same personas: each profile
    # needs room for all of its humans on top of the usual slack.
    cand = _candidates(src, reps, np.minimum(k + dup - 1, v))
    # Each human's own index as a persona guarantees a full matching whatever
    # the candidates (ties can make everyone pick the same few personas).
    eye = np.arange(h)
    prof = np.concatenate([np.repeat(np.arange(n_prof), np.diff(cand.ptr)), inverse])
    pers = np.concatenate([cand.cols, eye])
    weight = np.concatenate([cand.vals, src.pairs(eye, eye)])
    graph = _Graph.of(prof, pers, weight, (n_prof, v))
    bound = _objective(cand.bound, raw)
    by_profile = np.argsort(inverse, kind="stable")
    detail: dict[str, object] = {"solver": "sparse", "candidates": k}
    use_lp = None
    checked = 0
    for rnd in range(1, _MAX_ROUNDS + 1):
        fw = _objective(graph.weight, raw)
        tol = 1e-11 * (1.0 + float(np.abs(fw).max()))
        if use_lp is None:
            # Expanding profiles into humans multiplies a profile's pairs by
            # its size; past a point the transportation LP is cheaper.
            expanded = int((dup * np.diff(graph.ptr)).sum())
            use_lp = expanded > 4 * len(fw)
        sigma = _solve_lp(graph, fw, dup, by_profile) if use_lp else None
        if sigma is None:
            use_lp = False
            sigma = _solve_expanded(graph, fw, inverse, v)
        f_sigma = fw[graph.lookup(inverse, sigma, v)]
        price, share = _prices(graph, fw, sigma, f_sigma, inverse, by_profile, v, tol)
        # Dual slack per profile: over its candidates exactly, over the rest
        # through the screen's bound (prices are >= 0), refined below.
        head = graph.ptr[:-1]
        worst = np.maximum(np.maximum.reduceat(fw - price[graph.pers], head) - share, bound - share)
        unsure = np.nonzero(worst > tol)[0]
        checked += len(unsure)
        add_p: list[np.ndarray] = []
        add_v: list[np.ndarray] = []
        for blk in _blocks(len(unsure), v):
            who = unsure[blk]
            viol = _objective(src.rows(reps[who]), raw) - price - share[who, None]
            worst[who] = viol.max(axis=1)
            r, c = np.nonzero(viol > tol)
            add_p.append(who[r])
            add_v.append(c)
        n_new = sum(len(a) for a in add_p)
        if n_new:
            np_, nv = np.concatenate(add_p), np.concatenate(add_v)
            before = len(graph.prof)
            graph = _Graph.of(
                np.concatenate([graph.prof, np_]),
                np.concatenate([graph.pers, nv]),
                np.concatenate([graph.weight, src.pairs(reps[np_], nv)]),
                (n_prof, v),
            )
            if len(graph.prof) > before:
                continue
            if use_lp:
                # Only pairs already in the graph look violated: the LP's
                # tolerance, not missing pairs. Let the exact solver decide.
                use_lp = False
                continue
            return None
        unmatched = np.ones(v, dtype=bool)
        unmatched[sigma] = False
        u = f_sigma - price[sigma]
        # Dual objective minus the solution's total with u_h = U_q + slack_q
        # for each human of profile q: the full problem's optimum exceeds
        # this solution by at most gap.
        gap = float(
            price[unmatched].sum()
            + (dup * np.maximum(worst, 0.0)).sum()
            + (share[inverse] - u).sum()
        )
        total = float(f_sigma.sum())
        detail.update(
            solver="sparse-lp" if use_lp else "sparse",
            rounds=rnd,
            pairs=len(graph.prof),
            checked_rows=checked,
            gap_bound=gap,
            exact=bool(gap <= 1e-9 * max(1.0, abs(total))),
        )
        if detail["exact"]:
            return Matching(sigma, src.pairs(eye, sigma), "hungarian", detail)
        if not use_lp:
            return None
        use_lp = False
    return None


def _solve_expanded(graph: _Graph, fw: np.ndarray, inverse: np.ndarray, v: int) -> np.ndarray:
    """Every human gets its profile's pairs; sparse Jonker-Volgenant (LAPJVsp)."""
    at = _ragged(graph.ptr, inverse)
    rows = np.repeat(np.arange(len(inverse)), graph.ptr[inverse + 1] - graph.ptr[inverse])
    # The solver drops explicit zeros; a weight of exactly 0 becomes the
    # smallest negative number instead (a change far below any tolerance).
    data = np.where(fw[at] == 0, -np.finfo(float).tiny, fw[at])
    matrix = csr_array((data, (rows, graph.pers[at])), shape=(len(inverse), v))
    _, matched = min_weight_full_bipartite_matching(matrix, maximize=True)
    return np.asarray(matched, dtype=np.int64)


def _solve_lp(
    graph: _Graph, fw: np.ndarray, dup: np.ndarray, by_profile: np.ndarray
) -> np.ndarray | None:
    """The transportation LP (HiGHS dual simplex); None unless its vertex is integral.

    The constraint matrix is totally unimodular, so a basic optimal solution
    is 0/1; anything else (or a solver failure) leaves it to LAPJVsp.
    """
    n_pairs = len(fw)
    used, column = np.unique(graph.pers, return_inverse=True)
    ones = np.ones(n_pairs)
    pairs = np.arange(n_pairs)
    res = linprog(
        -fw / max(1.0, float(np.abs(fw).max())),
        A_ub=csr_array((ones, (column, pairs)), shape=(len(used), n_pairs)),
        b_ub=np.ones(len(used)),
        A_eq=csr_array((ones, (graph.prof, pairs)), shape=(len(dup), n_pairs)),
        b_eq=dup.astype(float),
        bounds=(0, 1),
        method="highs-ds",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    if res.status != 0 or res.x is None:
        return None
    x = np.asarray(res.x)
    chosen = x > 0.5
    if np.abs(x - chosen).max() > 1e-6:
        return None
    if not np.array_equal(np.bincount(graph.prof[chosen], minlength=len(dup)), dup):
        return None
    if len(np.unique(graph.pers[chosen])) != int(dup.sum()):
        return None
    # Chosen pairs come sorted by profile, as do humans in ``by_profile``;
    # a profile's humans are interchangeable, so pair them off in order.
    sigma = np.empty(len(by_profile), dtype=np.int64)
    sigma[by_profile] = graph.pers[chosen]
    return sigma


def _prices(
    graph: _Graph,
    fw: np.ndarray,
    sigma: np.ndarray,
    f_sigma: np.ndarray,
    inverse: np.ndarray,
    by_profile: np.ndarray,
    n_personas: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest prices :math:`p \\ge 0` making the assignment dual-tight, and each profile's share.

    With :math:`U_q = \\min_{h \\in q} f(h, \\sigma(h)) - p_{\\sigma(h)}` (what the
    worst-placed human of profile :math:`q` keeps), the prices solve
    :math:`p_v = \\max(0, \\max_{q \\ni v} f(q, v) - U_q)`: Bellman-Ford for
    longest paths from zero, vectorised over the pairs. An optimal assignment
    has no positive cycle, so it converges (typically in a handful of
    rounds); if it does not, the certificate fails and the caller goes dense.
    """
    order = np.argsort(graph.pers, kind="stable")
    tgt = graph.pers[order]
    starts = np.concatenate([[0], np.nonzero(np.diff(tgt))[0] + 1])
    heads = tgt[starts]
    owner = graph.prof[order]
    gain = fw[order]
    groups = np.concatenate([[0], np.cumsum(np.bincount(inverse))[:-1]])
    placed, kept = sigma[by_profile], f_sigma[by_profile]
    price = np.zeros(n_personas)
    share = np.minimum.reduceat(kept, groups)
    for _ in range(4 * int(math.isqrt(len(sigma))) + 64):
        share = np.minimum.reduceat(kept - price[placed], groups)
        new = np.zeros(n_personas)
        new[heads] = np.maximum(np.maximum.reduceat(gain - share[owner], starts), 0.0)
        done = float((new - price).max()) <= tol * 1e-3
        price = new
        if done:
            break
    share = np.minimum.reduceat(kept - price[placed], groups)
    return price, share


# --- random ----------------------------------------------------------------------


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
        lw = _Weights(_source(w)).pairs(np.arange(n_humans), persona)
    return Matching(persona.astype(np.int64), lw, "random")


# --- capacity --------------------------------------------------------------------


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
    closest personas. Each profile's few best personas are ranked exactly
    once, as far as the screen's bound proves no other persona could come
    between them; a human who finds all of those full falls back to its exact
    row, so the result is that of the exact weights, ties included.

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
    if h == 0:
        return Matching(np.zeros(0, dtype=np.int64), np.zeros(0), "capacity")
    src = _Weights(w)
    reps, inverse = src.profiles()
    dup = np.bincount(inverse)
    cand = _candidates(src, reps, _CAPACITY_CANDIDATES + -(-dup // capacity))
    # Per profile, candidates by exact weight (ties: lower index) and how many
    # of them provably precede every persona left out.
    owner = np.repeat(np.arange(len(reps)), np.diff(cand.ptr))
    order = np.lexsort((cand.cols, -cand.vals, owner))
    cols, vals = cand.cols[order], cand.vals[order]
    sure = (vals > cand.bound[owner]).astype(np.int64)
    n_sure = np.add.reduceat(sure, cand.ptr[:-1])
    col_list, val_list = cols.tolist(), vals.tolist()
    first = cand.ptr[:-1].tolist()
    last = (cand.ptr[:-1] + n_sure).tolist()
    profile = inverse.tolist()
    load = [0] * v
    full = np.zeros(v, dtype=bool)
    persona = np.empty(h, dtype=np.int64)
    score = np.empty(h)
    fallbacks = 0
    for i in np.argsort(-s, kind="stable").tolist():
        p = profile[i]
        for t in range(first[p], last[p]):
            j = col_list[t]
            if load[j] < capacity:
                persona[i] = j
                score[i] = val_list[t]
                break
        else:
            fallbacks += 1
            r = src.rows(np.array([i]))[0]
            r[full] = -np.inf
            j = int(r.argmax())
            persona[i] = j
            score[i] = r[j]
        load[j] += 1
        if load[j] == capacity:
            full[j] = True
    return Matching(persona, score, "capacity", {"exact_rows": fallbacks})
