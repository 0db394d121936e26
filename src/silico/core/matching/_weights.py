"""The persona-human weight matrix, in log space, computed whole or in row blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from silico.core.errors import ValidationError

#: Probabilities are floored here before the log so a persona that gives a
#: category zero mass is very unlikely, not impossible (keeps sums finite).
PROB_FLOOR = 1e-12

#: Budget for one fused table of several traits (see ``MatchProblem._fused``).
_FUSED_TABLE_BYTES = 128 * 2**20


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
        Category index per human and trait; -1 for missing/refused.
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
    def _fused(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """Traits packed into groups with one precomputed table per group.

        Row computation is memory-bound: every trait adds one pass over an
        (n, V) block. A table over the joint categories of several traits
        (sums of their log rows) turns those passes into one gather, so nine
        traits cost three passes instead of nine.
        """
        v = self.n_personas
        max_rows = max(1, _FUSED_TABLE_BYTES // (8 * v))
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
        fused = []
        for g in groups:
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
        (t0, i0), *rest = self._fused
        out = np.take(t0, i0[humans], axis=0)
        tmp = np.empty_like(out)
        for table, index in rest:
            np.take(table, index[humans], axis=0, out=tmp)
            out += tmp
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
