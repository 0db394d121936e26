"""The persona-human weight matrix, in log space: exact rows and pairs, and a fast screen.

Two ways to get :math:`\\log w(h, v)` live here. The exact one gathers rows of
precomputed per-trait (or fused multi-trait) log tables and is the reference
every matching reports and decides ties with. The screen is one float32 matrix
product of the humans' one-hot trait indicators with the stacked persona
log-probabilities, with a rigorous bound on its error; the assignment code
(:mod:`silico.core.matching._assign`) uses it only to rank personas, then
re-scores the few candidates that matter exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from silico.core.errors import ValidationError

#: Probabilities are floored here before the log so a persona that gives a
#: category zero mass is very unlikely, not impossible (keeps sums finite).
PROB_FLOOR = 1e-12

#: Budget for one fused table of several traits (see ``MatchProblem._fused``).
_FUSED_TABLE_BYTES = 128 * 2**20

#: From this many rows on, building the fused tables pays for itself.
_FUSED_MIN_ROWS = 256

#: Rows of a dense build filled at once: small enough that the per-block
#: temporary stays in cache, large enough that per-call overhead vanishes.
_DENSE_BLOCK_BYTES = 8 * 2**20

#: Unit roundoff of float32, the screen's working precision.
_U32 = float(np.finfo(np.float32).eps) / 2


@dataclass(frozen=True)
class MatchProblem:
    """Humans' trait categories and personas' trait distributions, ready for matching.

    The edge weight of human :math:`h` and persona :math:`v` is

    .. math:: \\log w(h, v) = \\sum_{t} \\log P_v(t = c_{h,t}),

    where a missing human category (:math:`c_{h,t} = -1`) contributes the
    uniform factor :math:`\\log(1/C_t)`, the same for every persona.

    Parameters
    ----------
    traits : tuple of str
        Trait names, the column order of ``human_categories``.
    log_probs : tuple of ndarray, each shape (C_t + 1, V)
        Per trait, the personas' log-probabilities by category (rows) with a
        last row of :math:`\\log(1/C_t)` for missing categories. Build with
        :meth:`build`.
    human_categories : ndarray of int, shape (H, T)
        Row index into ``log_probs`` per human and trait: the category, or
        :math:`C_t` where missing (:meth:`build` maps -1 there).
    """

    traits: tuple[str, ...]
    log_probs: tuple[np.ndarray, ...]
    human_categories: np.ndarray

    @classmethod
    def build(
        cls,
        persona_probs: Mapping[str, np.ndarray],
        human_categories: Mapping[str, Sequence[int] | np.ndarray],
    ) -> MatchProblem:
        """Validate inputs and precompute log tables.

        Parameters
        ----------
        persona_probs : mapping trait -> ndarray, shape (V, C_t)
            Each persona's distribution over the survey's categories of the
            trait (rows sum to 1; see :func:`silico.core.traits.coarsen`).
        human_categories : mapping trait -> int array, shape (H,)
            Each human's category index, -1 where missing.
        """
        traits = tuple(t for t in persona_probs if t in human_categories)
        if not traits:
            raise ValidationError("traits", "personas and humans share no trait")
        n_personas = {np.asarray(persona_probs[t]).shape[0] for t in traits}
        n_humans = {len(human_categories[t]) for t in traits}
        if len(n_personas) != 1 or len(n_humans) != 1:
            raise ValidationError(
                "traits", "every trait needs the same number of personas and of humans"
            )
        tables = []
        cols = []
        for t in traits:
            p = np.asarray(persona_probs[t], dtype=float)
            if p.ndim != 2 or p.shape[1] < 1:
                raise ValidationError(
                    f"personas.{t}", f"expected (V, C) probabilities, got {p.shape}"
                )
            if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
                raise ValidationError(
                    f"personas.{t}", "each row must be a probability distribution"
                )
            c = np.asarray(human_categories[t], dtype=np.int64)
            if np.any((c < -1) | (c >= p.shape[1])):
                bad = c[(c < -1) | (c >= p.shape[1])][0]
                raise ValidationError(f"humans.{t}", f"category {bad} outside 0..{p.shape[1] - 1}")
            table = np.log(np.maximum(p, PROB_FLOOR)).T
            uniform = np.full((1, p.shape[0]), -np.log(p.shape[1]))
            tables.append(np.ascontiguousarray(np.vstack([table, uniform])))
            cols.append(np.where(c < 0, p.shape[1], c))
        return cls(traits, tuple(tables), np.stack(cols, axis=1))

    @property
    def n_humans(self) -> int:
        return int(self.human_categories.shape[0])

    @property
    def n_personas(self) -> int:
        return int(self.log_probs[0].shape[1])

    @cached_property
    def _groups(self) -> tuple[tuple[int, ...], ...]:
        """Traits packed into groups whose joint tables stay within a memory budget.

        The grouping fixes the order of the floating-point additions, and so
        the exact weights: within a group trait by trait, then group totals
        in order. :meth:`rows`, :meth:`dense` and :meth:`pairs` all follow it,
        with or without the fused tables, and agree to the bit.
        """
        max_rows = max(1, _FUSED_TABLE_BYTES // (8 * self.n_personas))
        groups: list[list[int]] = []
        size = 0
        for j, table in enumerate(self.log_probs):
            r = table.shape[0]
            if groups and size * r <= max_rows:
                groups[-1].append(j)
                size *= r
            else:
                groups.append([j])
                size = r
        return tuple(tuple(g) for g in groups)

    @cached_property
    def _fused(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """One precomputed table per group of :attr:`_groups`.

        Row computation is memory-bound: every trait adds one pass over an
        (n, V) block. A table over the joint categories of several traits
        (sums of their log rows) turns those passes into one gather, so nine
        traits cost three passes instead of nine, once the tables are built.
        """
        v = self.n_personas
        fused = []
        for g in self._groups:
            table = self.log_probs[g[0]]
            index = self.human_categories[:, g[0]].copy()
            for j in g[1:]:
                r = self.log_probs[j].shape[0]
                table = (table[:, None, :] + self.log_probs[j][None, :, :]).reshape(-1, v)
                index = index * r + self.human_categories[:, j]
            fused.append((np.ascontiguousarray(table), index))
        return tuple(fused)

    def rows(self, humans: np.ndarray | slice) -> np.ndarray:
        """Log weights of the given humans against every persona, shape (n, V)."""
        idx = np.arange(self.n_humans)[humans] if isinstance(humans, slice) else humans
        n, v = len(idx), self.n_personas
        if n < _FUSED_MIN_ROWS and "_fused" not in self.__dict__:
            # A few rows: gathering trait by trait beats building the tables.
            return self._rows_by_trait(idx)
        step = max(1, _DENSE_BLOCK_BYTES // (8 * v))
        if n <= step:
            return self._rows_into(idx, np.empty((n, v)), np.empty((n, v)))
        # Blockwise into one output: a second (n, V) temporary would double
        # the peak memory and the page faults of a large build.
        out = np.empty((n, v))
        tmp = np.empty((step, v))
        for s in range(0, n, step):
            e = min(s + step, n)
            self._rows_into(idx[s:e], out[s:e], tmp[: e - s])
        return out

    def _rows_into(self, idx: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
        (t0, i0), *rest = self._fused
        np.take(t0, i0[idx], axis=0, out=out)
        for table, index in rest:
            np.take(table, index[idx], axis=0, out=tmp)
            out += tmp
        return out

    def _rows_by_trait(self, idx: np.ndarray) -> np.ndarray:
        cats = self.human_categories[idx]
        out = np.empty((len(idx), self.n_personas))
        tmp = np.empty_like(out)
        for n, g in enumerate(self._groups):
            acc = out if n == 0 else tmp
            np.take(self.log_probs[g[0]], cats[:, g[0]], axis=0, out=acc)
            for j in g[1:]:
                acc += self.log_probs[j][cats[:, j]]
            if n:
                out += tmp
        return out

    def pairs(self, humans: np.ndarray, personas: np.ndarray) -> np.ndarray:
        """Exact log weights of the pairs ``(humans[i], personas[i])``, bit-equal to :meth:`rows`."""
        cats = self.human_categories[humans]
        out = np.zeros(len(personas))
        for n, g in enumerate(self._groups):
            acc = self.log_probs[g[0]][cats[:, g[0]], personas]
            for j in g[1:]:
                acc += self.log_probs[j][cats[:, j], personas]
            if n == 0:
                out = acc
            else:
                out += acc
        return out

    def dense(self) -> np.ndarray:
        """The whole (H, V) log-weight matrix (mind the memory: 8·H·V bytes)."""
        return self.rows(slice(None))

    def profiles(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct human category profiles and, per human, its profile index.

        Humans with the same categories have identical weight rows, so row work
        is done once per profile.
        """
        uniq, inverse = np.unique(self.human_categories, axis=0, return_inverse=True)
        return uniq, inverse.reshape(-1)

    @cached_property
    def screen(self) -> Screen:
        """The float32 one-hot product that ranks personas (see :class:`Screen`)."""
        return Screen.of(self)


@dataclass(frozen=True)
class Screen:
    """Approximate log weights as one matrix product, with a bound on their error.

    With :math:`X` the humans' one-hot indicators of their known categories
    (shape (n, K), :math:`K = \\sum_t C_t`) and :math:`L` the stacked persona
    log-probabilities (K, V),

    .. math:: \\log w(h, v) = (X L)_{h v} + m_h ,

    where :math:`m_h = \\sum_{t \\text{ missing}} \\log(1/C_t)` is the same for
    every persona (the uniform factor of :class:`MatchProblem`). The product is
    computed in float32, twice as fast as float64 and half the memory; each
    entry is a sum of the human's :math:`T_h` known-trait terms, so (rounding
    the table to float32 included) its error is at most
    :math:`(T_h + 1)\\, u\\, S_h` with :math:`u = 2^{-24}` and :math:`S_h` the
    sum of the terms' largest magnitudes. :meth:`block` reports twice that
    bound, plus a float64 allowance for the exact weights' own rounding.

    Attributes
    ----------
    table : ndarray, float32, shape (K, V)
    offsets : ndarray of int, shape (T,)
        First row of each trait in ``table``.
    n_categories : ndarray of int, shape (T,)
    magnitude : ndarray, shape (K,)
        :math:`\\max_v |L_{k v}|` per row.
    missing : ndarray, shape (T,)
        :math:`\\log(1/C_t)`.
    """

    table: np.ndarray
    offsets: np.ndarray
    n_categories: np.ndarray
    magnitude: np.ndarray
    missing: np.ndarray
    _padded: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, problem: MatchProblem) -> Screen:
        known = [t[:-1] for t in problem.log_probs]
        sizes = np.array([t.shape[0] for t in known], dtype=np.int64)
        table = np.vstack(known)
        return cls(
            table=np.ascontiguousarray(table, dtype=np.float32),
            offsets=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
            n_categories=sizes,
            magnitude=np.abs(table).max(axis=1),
            missing=np.array([t[-1, 0] for t in problem.log_probs]),
        )

    @property
    def n_personas(self) -> int:
        return int(self.table.shape[1])

    def _table(self, width: int) -> np.ndarray:
        # Padding columns are zero; :meth:`block` overwrites their products.
        # One width is kept: callers use few, in runs, and each copy is K x W.
        if width not in self._padded:
            padded = np.zeros((self.table.shape[0], width), dtype=np.float32)
            padded[:, : self.n_personas] = self.table
            self._padded.clear()
            self._padded[width] = padded
        return self._padded[width]

    def block(self, categories: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fill ``out[:n, :V]`` with approximate log weights minus the missing-trait constant.

        Parameters
        ----------
        categories : ndarray of int, shape (n, T)
            Rows of a problem's ``human_categories`` (:math:`C_t` = missing).
        out : ndarray, float32, shape (n, W), C-contiguous, :math:`W \\ge V`
            Columns past V are set to :math:`-\\infty`.

        Returns
        -------
        shift : ndarray, shape (n,)
            :math:`m_h`; ``out + shift`` estimates :math:`\\log w`.
        error : ndarray, shape (n,)
            Bound on :math:`|\\text{out} + m_h - \\log w|`, the exact weight
            as :meth:`MatchProblem.rows` computes it.
        """
        n, width = out.shape
        cats = categories
        known = (cats >= 0) & (cats < self.n_categories)
        col = self.offsets + np.clip(cats, 0, self.n_categories - 1)
        onehot = np.zeros((n, self.table.shape[0]), dtype=np.float32)
        r, t = np.nonzero(known)
        onehot[r, col[r, t]] = 1.0
        np.matmul(onehot, self._table(width), out=out)
        out[:, self.n_personas :] = -np.inf
        shift = np.where(known, 0.0, self.missing).sum(axis=1)
        size = np.where(known, self.magnitude[col], 0.0).sum(axis=1)
        terms = known.sum(axis=1)
        f64 = 64 * float(np.finfo(float).eps) * (size + np.abs(shift) + 1.0) * (terms + 2)
        error = 2.0 * (terms + 1) * _U32 * size + f64
        return shift, error


def log_weight_matrix(
    persona_probs: Mapping[str, np.ndarray],
    human_categories: Mapping[str, Sequence[int] | np.ndarray],
) -> np.ndarray:
    """The (H, V) matrix :math:`\\log w(h, v)`; see :class:`MatchProblem`.

    Examples
    --------
    >>> W = log_weight_matrix({"party": np.array([[0.9, 0.1], [0.2, 0.8]])}, {"party": [1, -1]})
    >>> np.exp(W).round(2).tolist()
    [[0.1, 0.8], [0.5, 0.5]]
    """
    return MatchProblem.build(persona_probs, human_categories).dense()
