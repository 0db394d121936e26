"""Higher-order studies: partisan personas answer the perception variants of each
declared item, and the gaps are computed per party.

Shared by the in-process runner and the orchestrator: :func:`units` says which
persona answers which generated items (a survey unit each), :func:`gap_table`
turns their answers into the talk's table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from silico.core.prompts import HigherOrderTemplate, Item, make_variants
from silico.core.stats import party_gaps
from silico.core.traits import CATALOGUE
from silico.pipeline.spec import HigherOrderSpec

#: Which gaps an item of each kind measures.
GAPS_OF_KIND = {"rating": ("hostility", "meta_perception"), "behaviour": ("subversion",)}


@dataclass(frozen=True)
class HigherOrderUnit:
    persona: int
    group: str  # the persona's party, as the items name it
    items: list[Item]
    perspectives: list[tuple[str, str]]  # (template id, perspective) per item


def templates(spec: HigherOrderSpec) -> list[HigherOrderTemplate]:
    return [
        HigherOrderTemplate(t.id, t.self_stem, t.group_stem, t.meta_stem, tuple(t.options))
        for t in spec.items
    ]


def persona_groups(spec: HigherOrderSpec, party_probs: np.ndarray) -> list[str | None]:
    """Each persona's party (its most probable annotated answer), as a group in
    ``spec.parties``, or None when it names neither party."""
    options = CATALOGUE["party"].options
    return [spec.labels.get(options[int(np.argmax(p))]) for p in party_probs]


def units(spec: HigherOrderSpec, party_probs: np.ndarray) -> list[HigherOrderUnit]:
    out = []
    tpls = templates(spec)
    for k, group in enumerate(persona_groups(spec, party_probs)):
        if group is None:
            continue
        items, persp = [], []
        for t in tpls:
            for v in make_variants(t, group, tuple(spec.parties)):
                items.append(v.item)
                persp.append((t.id, v.perspective))
        out.append(HigherOrderUnit(k, group, items, persp))
    return out


def study_units(spec: Any, party_probs: np.ndarray | None) -> list[HigherOrderUnit]:
    """The higher-order survey units of a study (none without a ``higher_order`` section)."""
    if spec.higher_order is None or party_probs is None:
        return []
    return units(spec.higher_order, party_probs)


def expected_rating(probs: np.ndarray) -> float:
    """Mean position (1..K) of an answer distribution; NaN when it has no mass."""
    p = np.nan_to_num(np.asarray(probs, dtype=float))
    s = p.sum()
    return float((p * np.arange(1, len(p) + 1)).sum() / s) if s > 0 else float("nan")


def gap_table(
    spec: HigherOrderSpec,
    answered: list[HigherOrderUnit],
    answers: dict[int, list[list[float]]],
    seed: int,
    level: float = 0.95,
) -> dict[str, Any]:
    """Per item and party: mean rating per perspective and the three gaps with CIs.

    ``answers[persona]`` holds the unit's distributions, one per item in order.
    """
    rows: list[dict[str, Any]] = []
    means: list[dict[str, Any]] = []
    for t in spec.items:
        ratings: dict[str, list[float]] = {p: [] for p in ("self", "ingroup", "outgroup", "meta")}
        party: list[str] = []
        for u in answered:
            dist = answers[u.persona]
            for (tid, persp), probs in zip(u.perspectives, dist, strict=True):
                if tid == t.id:
                    ratings[persp].append(expected_rating(np.asarray(probs)))
            party.append(u.group)
        arr = {p: np.asarray(v, dtype=float) for p, v in ratings.items()}
        for g in spec.parties:
            m = np.array([p == g for p in party])
            means.append(
                {
                    "item": t.id,
                    "party": g,
                    "n": int(m.sum()),
                    **{p: float(np.nanmean(arr[p][m])) if m.any() else float("nan") for p in arr},
                }
            )
        wanted = GAPS_OF_KIND[t.kind]
        for row in party_gaps(
            arr, party, tuple(spec.parties), n_boot=spec.bootstrap, seed=seed, level=level
        ):
            if row["gap"] in wanted:
                rows.append({"item": t.id, "kind": t.kind, "source": "virtual", **row})
    return {"gaps": rows, "means": means, "n_partisan_personas": len(answered)}
