"""Higher-order studies: partisan personas answer the perception variants of each
declared item, and the gaps are computed per party.

Shared by the in-process runner and the orchestrator: :func:`units` says which
persona answers which generated items (a survey unit each), :func:`gap_table`
turns their answers into the talk's table (with a human row when the spec
maps human columns), :func:`study_gap_table` wires it to a study's humans and
matching.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from silico.core.data import SurveyData, load_survey, read_dataset
from silico.core.data._readers import dataset_columns
from silico.core.errors import ValidationError
from silico.core.prompts import (
    KIND_PERSPECTIVES,
    PERSPECTIVES,
    HigherOrderTemplate,
    Item,
    make_variants,
)
from silico.core.stats import (
    answer_distribution,
    answer_moments,
    party_gaps,
    same_sign,
    wasserstein_ordinal,
)
from silico.core.traits import CATALOGUE
from silico.pipeline.spec import HigherOrderItemSpec, HigherOrderSpec

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
        HigherOrderTemplate(t.id, t.self_stem, t.group_stem, tuple(t.options), t.kind, t.meta_stem)
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
    members = spec.member_names()
    for k, group in enumerate(persona_groups(spec, party_probs)):
        if group is None:
            continue
        items, persp = [], []
        for t in tpls:
            for v in make_variants(t, group, tuple(spec.parties), members):
                items.append(v.item)
                persp.append((t.id, v.perspective))
        out.append(HigherOrderUnit(k, group, items, persp))
    return out


def study_units(spec: Any, party_probs: np.ndarray | None) -> list[HigherOrderUnit]:
    """The higher-order survey units of a study (none without a ``higher_order`` section).

    Human columns the spec maps are checked here, before any survey call, so
    that a wrong column fails the study early rather than after the survey.
    """
    if spec.higher_order is None or party_probs is None:
        return []
    human_columns(spec)
    return units(spec.higher_order, party_probs)


def expected_rating(probs: np.ndarray) -> float:
    """Mean position (1..K) of an answer distribution; NaN when it has no mass."""
    p = np.nan_to_num(np.asarray(probs, dtype=float))
    s = p.sum()
    return float((p * np.arange(1, len(p) + 1)).sum() / s) if s > 0 else float("nan")


def orient(probs: np.ndarray, negative_end: str) -> np.ndarray:
    """Answer distributions (..., K) in shown option order -> positions where
    higher is more negative (the gaps' convention).

    >>> orient(np.array([0.7, 0.2, 0.1]), "first").tolist()
    [0.1, 0.2, 0.7]
    """
    if negative_end not in ("first", "last"):
        raise ValidationError("negative_end", f"must be 'first' or 'last', got {negative_end!r}")
    a = np.asarray(probs, dtype=float)
    return a[..., ::-1] if negative_end == "first" else a


def orient_positions(positions: np.ndarray, k: int, negative_end: str) -> np.ndarray:
    """Observed positions 1..K -> positions where higher is more negative.

    >>> orient_positions(np.array([1.0, 3.0, np.nan]), 3, "first").tolist()
    [3.0, 1.0, nan]
    """
    if negative_end not in ("first", "last"):
        raise ValidationError("negative_end", f"must be 'first' or 'last', got {negative_end!r}")
    p = np.asarray(positions, dtype=float)
    return k + 1 - p if negative_end == "first" else p


def matched_weights(persona: np.ndarray, human_weights: np.ndarray) -> dict[int, float]:
    """Each matched persona's weight: the total survey weight of the humans matched to it.

    >>> matched_weights(np.array([0, 2, 0]), np.array([1.0, 2.0, 0.5]))
    {0: 1.5, 2: 2.0}
    """
    out: dict[int, float] = {}
    for p, w in zip(np.asarray(persona), np.asarray(human_weights, dtype=float), strict=True):
        if p >= 0 and np.isfinite(w) and w > 0:
            out[int(p)] = out.get(int(p), 0.0) + float(w)
    return out


@dataclass(frozen=True)
class HumanAnswers:
    """Human answers to the higher-order items.

    Attributes
    ----------
    party : ndarray of object, shape (n,)
        Each respondent's group in ``spec.parties`` (None: neither).
    weights : ndarray, shape (n,)
    ratings : dict item id -> dict perspective -> ndarray (n,)
        Positions 1..K oriented so that higher is more negative; NaN where not
        answered.
    """

    party: np.ndarray
    weights: np.ndarray
    ratings: dict[str, dict[str, np.ndarray]]


def human_perspectives(
    item: HigherOrderItemSpec,
    columns: Mapping[str, np.ndarray],
    party: np.ndarray,
    parties: Sequence[str],
) -> dict[str, np.ndarray]:
    """An item's human answers per perspective, from its mapped columns.

    ``columns`` holds each mapped column's positions (1..K, codebook order);
    they are oriented with ``item.human.negative_end``. ``ratings`` columns
    (a rating of each party) become ``self`` (of the respondent's other
    party) and ``own`` (of their party).
    """
    hs = item.human
    if hs is None:
        return {}
    k = len(item.options)
    out: dict[str, np.ndarray] = {
        persp: orient_positions(columns[col], k, hs.negative_end)
        for persp, col in hs.perspectives.items()
    }
    if hs.ratings:
        of = {
            g: orient_positions(columns[col], k, hs.negative_end) for g, col in hs.ratings.items()
        }
        n = len(party)
        self_, own = np.full(n, np.nan), np.full(n, np.nan)
        for g, other in ((parties[0], parties[1]), (parties[1], parties[0])):
            m = np.asarray(party == g, dtype=bool)
            self_[m] = of[other][m]
            own[m] = of[g][m]
        out["self"], out["own"] = self_, own
    return out


def human_columns(spec: Any) -> dict[str, str]:
    """Every human column the higher-order items map, with the field that names it;
    checks that each is an ordinal codebook variable with one code per option."""
    ho = spec.higher_order
    wanted: dict[str, str] = {}
    for i, it in enumerate(ho.items):
        if it.human is None:
            continue
        named = [("perspectives", p, c) for p, c in it.human.perspectives.items()]
        named += [("ratings", g, c) for g, c in it.human.ratings.items()]
        for section, key, col in named:
            wanted.setdefault(col, f"higher_order.items[{i}].human.{section}.{key}")
    if not wanted:
        return wanted
    # Every format the study's data may be in (CSV, .sav, .dta, .parquet), with its codebook.
    header = set(dataset_columns(spec.data.path))
    for col, field in wanted.items():
        if col not in header:
            raise ValidationError(field, f"column {col!r} is not in {Path(spec.data.path).name}")
    # A labelled file's codebook entry of a column depends on its values: read those alone.
    _, cb = read_dataset(spec.data.path, spec.data.codebook, columns=list(wanted))
    for it in ho.items:
        if it.human is None:
            continue
        for col in [*it.human.perspectives.values(), *it.human.ratings.values()]:
            field = wanted[col]
            try:
                k = cb.item(col).k
            except ValidationError as e:
                raise ValidationError(field, f"column {col!r}: {e.message}") from None
            if k != len(it.options):
                raise ValidationError(
                    field,
                    f"column {col!r} has {k} ordinal codes, item {it.id!r} has "
                    f"{len(it.options)} options",
                )
    return wanted


def human_answers(spec: Any, humans: SurveyData) -> HumanAnswers | None:
    """The study humans' answers to the higher-order items (None when no item maps any).

    The columns are read from ``data.csv`` (codes -> positions by the
    codebook) and aligned with ``humans`` by respondent id.
    """
    wanted = human_columns(spec)
    if not wanted:
        return None
    ho = spec.higher_order
    d = spec.data
    raw = load_survey(
        d.csv,
        d.codebook,
        list(wanted),
        (),
        weight=d.weight,
        filters=d.filters,
        id_column=d.id_column,
    )
    row = {rid: i for i, rid in enumerate(raw.ids)}
    missing = [rid for rid in humans.ids if rid not in row]
    if missing:
        raise ValidationError("data.id_column", f"respondents {missing[:3]} not found again")
    idx = np.array([row[rid] for rid in humans.ids], dtype=int)
    values = raw.responses.values[idx]
    columns = {col: values[:, j] for j, col in enumerate(wanted)}
    labels = humans.trait_labels("party")
    party = np.array([ho.labels.get(x) if x is not None else None for x in labels], dtype=object)
    ratings = {
        it.id: human_perspectives(it, columns, party, ho.parties)
        for it in ho.items
        if it.human is not None
    }
    return HumanAnswers(party, np.asarray(humans.responses.weights, dtype=float), ratings)


def _means(
    item: str,
    source: str,
    ratings: Mapping[str, np.ndarray],
    party: np.ndarray,
    weights: np.ndarray,
    parties: Sequence[str],
) -> list[dict[str, Any]]:
    out = []
    for g in parties:
        m = party == g
        row: dict[str, Any] = {"item": item, "source": source, "party": g}
        n = 0
        for persp in PERSPECTIVES:
            mean = float("nan")
            if persp in ratings and m.any():
                mu, _ = answer_moments(ratings[persp][m])
                s = weights[m]
                ok = np.isfinite(mu) & (s > 0)
                n = max(n, int(ok.sum()))
                if ok.any():
                    mean = float((s[ok] * mu[ok]).sum() / s[ok].sum())
            row[persp] = mean
        row["n"] = n
        out.append(row)
    return out


def gap_table(
    spec: HigherOrderSpec,
    answered: list[HigherOrderUnit],
    answers: dict[int, list[list[float]]],
    seed: int,
    level: float = 0.95,
    *,
    persona_weights: Mapping[int, float] | None = None,
    humans: HumanAnswers | None = None,
) -> dict[str, Any]:
    """Per item and party: mean rating per perspective and the gaps with CIs.

    ``answers[persona]`` holds the unit's distributions, one per item in order
    (options in the order shown). They are oriented with the item's
    ``negative_end`` and the gaps and Cohen's d computed on the answers the
    distributions stand for (:func:`~silico.core.stats.party_gaps`).

    Parameters
    ----------
    persona_weights : mapping persona -> weight, optional
        The weight of each persona (:func:`matched_weights`: the humans
        matched to it); personas without weight are left out. Default: every
        answering persona weighs 1.
    humans : HumanAnswers, optional
        Adds ``source="human"`` gap rows, ``same_sign`` on the virtual rows,
        and per-party Wasserstein distances between human and virtual answer
        distributions of each perspective the humans answered (``wd``).
    """
    parties = tuple(spec.parties)
    used = [
        u for u in answered if persona_weights is None or persona_weights.get(u.persona, 0.0) > 0
    ]
    w = np.array(
        [1.0 if persona_weights is None else float(persona_weights[u.persona]) for u in used]
    )
    party = np.array([u.group for u in used], dtype=object)
    rows: list[dict[str, Any]] = []
    means: list[dict[str, Any]] = []
    wds: list[dict[str, Any]] = []
    for t in spec.items:
        k = len(t.options)
        dists = {p: np.zeros((len(used), k)) for p in PERSPECTIVES}
        for i, u in enumerate(used):
            for (tid, persp), probs in zip(u.perspectives, answers[u.persona], strict=True):
                # An empty list is a dropped (non-compliant) answer: its row stays
                # all zero, which counts as no answer.
                if tid == t.id and len(probs):
                    dists[persp][i] = orient(
                        np.nan_to_num(np.asarray(probs, float)[:k]), t.negative_end
                    )
        # Perspectives the kind does not ask stay out, so their means read NaN.
        asked = {p: dists[p] for p in KIND_PERSPECTIVES[t.kind]}
        kinds = GAPS_OF_KIND[t.kind]
        virtual = party_gaps(
            asked, party, parties, w, n_boot=spec.bootstrap, seed=seed, level=level, kinds=kinds
        )
        means += _means(t.id, "virtual", asked, party, w, parties)
        hr = humans.ratings.get(t.id) if humans is not None else None
        human_rows: list[dict[str, object]] = []
        if humans is not None and hr:
            full = {p: hr.get(p, np.full(len(humans.party), np.nan)) for p in PERSPECTIVES}
            human_rows = party_gaps(
                full,
                humans.party,
                parties,
                humans.weights,
                n_boot=spec.bootstrap,
                seed=seed + 1,
                level=level,
                kinds=kinds,
            )
            means += _means(t.id, "human", hr, humans.party, humans.weights, parties)
            wds += _wd_rows(t.id, k, hr, humans, asked, party, w, parties)
        by_key = {(r["party"], r["gap"]): r for r in human_rows}
        for row in virtual:
            h = by_key.get((row["party"], row["gap"]))
            hv = float(h["value"]) if h is not None else float("nan")  # type: ignore[arg-type]
            vv = float(row["value"])  # type: ignore[arg-type]
            agree = same_sign(hv, vv) if np.isfinite(hv) and np.isfinite(vv) else None
            rows.append(
                {"item": t.id, "kind": t.kind, "source": "virtual", **row, "same_sign": agree}
            )
        for row in human_rows:
            rows.append({"item": t.id, "kind": t.kind, "source": "human", **row, "same_sign": None})
    return {
        "gaps": rows,
        "means": means,
        "wd": wds,
        "n_partisan_personas": len(answered),
        "n_weighted_personas": len(used),
    }


def _wd_rows(
    item: str,
    k: int,
    hr: Mapping[str, np.ndarray],
    humans: HumanAnswers,
    virtual: Mapping[str, np.ndarray],
    party: np.ndarray,
    w: np.ndarray,
    parties: Sequence[str],
) -> list[dict[str, Any]]:
    out = []
    for g in parties:
        hm, vm = humans.party == g, party == g
        for persp, pos in hr.items():
            if persp not in virtual:
                continue
            hd = answer_distribution(pos[hm], humans.weights[hm], k)
            vd = answer_distribution(virtual[persp][vm], w[vm], k)
            ok = np.isfinite(hd).all() and np.isfinite(vd).all()
            wd = wasserstein_ordinal(hd, vd) if ok else float("nan")
            out.append(
                {
                    "item": item,
                    "party": g,
                    "perspective": persp,
                    "wd": wd,
                    "wd_norm": wd / (k - 1),
                    "n_human": int((hm & np.isfinite(pos)).sum()),
                    "n_virtual": int((vm & (virtual[persp].sum(axis=1) > 0)).sum()),
                }
            )
    return out


def study_gap_table(
    spec: Any,
    humans: SurveyData,
    matchings: Mapping[str, Any],
    answered: list[HigherOrderUnit],
    answers: dict[int, list[list[float]]],
    seed: int,
    level: float = 0.95,
) -> dict[str, Any]:
    """:func:`gap_table` of a study: the partisan personas matched to humans by the
    primary matching, each weighted by the survey weights of its humans, and a
    human row when the spec maps human columns."""
    m = matchings.get(spec.matching.primary)
    weights = (
        matched_weights(np.asarray(m.persona), humans.responses.weights) if m is not None else None
    )
    return gap_table(
        spec.higher_order,
        answered,
        answers,
        seed,
        level,
        persona_weights=weights,
        humans=human_answers(spec, humans),
    )
