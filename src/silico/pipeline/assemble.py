"""From what the stages collected to a :class:`StudyResult`: matching, virtual panels
and every metric, shared by both drivers.

The statistics default to the core functions; the orchestrator passes the
MatchingService's and MetricsService's RPCs instead (:class:`Services`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from silico.core.data import SurveyData
from silico.core.matching import (
    Matching,
    MatchProblem,
    capacity_match,
    diagnose,
    greedy_match,
    hungarian_match,
    random_match,
)
from silico.core.sampling import derive_seed, draw_responses
from silico.core.stats import (
    BOOTSTRAP_METHOD,
    Interval,
    Responses,
    Subgroup,
    by_subgroup,
    compare_with_ci,
    items_within_noise,
    split_half,
    split_half_note,
    subgroup_lower_bounds,
)
from silico.core.traits import coarsen
from silico.pipeline import higher_order
from silico.pipeline.result import Collected, StudyResult
from silico.pipeline.spec import StudySpec


@dataclass(frozen=True)
class Services:
    """Where matching and the metrics are computed: ``None`` is this process.

    ``match(spec, problem, method, weights, coarse=, human_cats=) -> Matching``;
    ``compare(human, virtual, n_boot, seed, level, dists, clusters)`` and
    ``split_half(human, iterations, seed, level)`` return metric -> Interval.
    """

    match: Callable[..., Matching] | None = None
    compare: Callable[..., dict[str, Interval]] | None = None
    split_half: Callable[..., dict[str, Interval]] | None = None


LOCAL = Services()


def diagnostics(c: Collected, humans: SurveyData, virtual: dict[str, Responses]) -> dict[str, Any]:
    """Matching diagnostics with compliance, dropped answers, retries and how the
    intervals and the bound were made."""
    a = c.answers
    diags = dict(c.diagnostics)
    diags.update(
        compliance_summary(
            c.spec.traits(),
            c.demographics_compliance,
            a.persona_compliance if a.persona is not None else None,
            a.baseline_compliance,
        )
    )
    diags["dropped_answers"] = dropped_answers(humans, virtual)
    diags["answer_attempts"] = attempt_summary(humans, dict(a.attempts))
    diags["bootstrap_method"] = BOOTSTRAP_METHOD
    diags["split_half"] = {
        "iterations": c.spec.evaluation.split_half_iterations,
        "half_size": humans.n // 2,
        "warning": split_half_note(humans.n),
    }
    return diags


def finish(c: Collected, services: Services = LOCAL) -> StudyResult:
    """Draw the virtual responses, compute every metric, and assemble the result."""
    t0 = time.perf_counter()
    spec, humans, a = c.spec, c.humans, c.answers
    ks = humans.responses.ks
    if not spec.evaluation.weighted:
        # The released code's convention: every respondent counts once.
        r = humans.responses
        humans = replace(humans, responses=Responses(r.values, r.ks, np.ones(r.n)))
    n_personas = len([b for b in c.backstories if b.accepted])
    persona_answers = a.persona
    if persona_answers is None:
        persona_answers = np.full((n_personas, len(humans.items), int(ks.max())), np.nan)
    panels = virtual_panels(
        spec, c.matchings, persona_answers, a.baselines, ks, humans.responses.weights
    )
    virtual = {name: p.responses for name, p in panels.items()}
    comparisons, lower, subgroups, bounds = evaluate(spec, humans, panels, services)
    p = len(humans.items)
    noise = {name: items_within_noise(ci, lower, p) for name, ci in comparisons.items()}
    diags = diagnostics(c, humans, virtual)
    gaps = None
    if spec.higher_order is not None:
        gaps = higher_order.study_gap_table(
            spec,
            humans,
            c.matchings,
            a.higher_order_units,
            a.higher_order,
            derive_seed(spec.seed, "higher-order-bootstrap"),
            spec.evaluation.level,
        )
    return StudyResult(
        spec,
        humans,
        c.backstories,
        c.traits,
        c.demographics_compliance,
        c.matchings,
        persona_answers,
        a.persona_compliance,
        a.baselines,
        a.baseline_compliance,
        virtual,
        comparisons,
        lower,
        subgroups,
        diags,
        {**c.seconds, "metrics": time.perf_counter() - t0},
        gaps,
        bounds,
        noise,
    )


def persona_categories(
    spec: StudySpec, humans: SurveyData, traits_fine: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Persona distributions mapped onto the survey's categories of each trait."""
    return {
        t: np.stack([coarsen(p, humans.schemes[t]) for p in traits_fine[t]]) for t in traits_fine
    }


def match_with(
    problem: MatchProblem,
    method: str,
    weights: np.ndarray,
    capacity: int = 1,
    raw: bool = False,
    seed: int = 0,
) -> Matching:
    """One matching method on a problem (the MatchingService's RPC does exactly this)."""
    if method == "greedy":
        return greedy_match(problem)
    if method == "hungarian":
        return hungarian_match(problem, raw=raw)
    if method == "capacity":
        return capacity_match(problem, capacity, weights)
    return random_match(problem.n_humans, problem.n_personas, np.random.default_rng(seed), problem)


def match(
    spec: StudySpec, problem: MatchProblem, method: str, weights: np.ndarray, **_: Any
) -> Matching:
    """A study's matching ``method`` in this process."""
    return match_with(
        problem,
        method,
        weights,
        spec.matching.capacity,
        spec.matching.hungarian_objective == "raw",
        derive_seed(spec.seed, "random-match"),
    )


@dataclass(frozen=True)
class Panel:
    """A virtual panel: one response per human, the distributions they were drawn
    from, and the cluster (persona, or the human's own prompt) of each row."""

    responses: Responses
    dists: np.ndarray
    clusters: np.ndarray


def virtual_panels(
    spec: StudySpec,
    matchings: dict[str, Matching],
    persona_answers: np.ndarray,
    base_answers: dict[str, np.ndarray],
    ks: np.ndarray,
    weights: np.ndarray,
) -> dict[str, Panel]:
    """Individual virtual responses, drawn with recorded seeds from the answer distributions.

    Virtual row ``h`` belongs to human ``h`` (its matched persona, or its own
    baseline prompt) and carries that human's survey weight. A non-compliant
    answer (NaN distribution) is a missing response.
    """
    out: dict[str, Panel] = {}
    for method, m in matchings.items():
        dists = persona_answers[m.persona]
        vals = draw_responses(dists, ks, derive_seed(spec.seed, "draw", "anthology", method))
        out[f"anthology/{method}"] = Panel(Responses(vals, ks, weights), dists, m.persona)
    for method, probs in base_answers.items():
        vals = draw_responses(probs, ks, derive_seed(spec.seed, "draw", method))
        out[method] = Panel(Responses(vals, ks, weights), probs, np.arange(len(probs)))
    return out


def dropped_answers(humans: SurveyData, virtual: dict[str, Responses]) -> dict[str, Any]:
    """Per panel and item, the virtual answers dropped as non-compliant (missing)."""
    out: dict[str, Any] = {}
    for name, r in virtual.items():
        miss = ~np.isfinite(r.values)
        out[name] = {
            "total": int(miss.sum()),
            "of": int(miss.size),
            "items": {it.id: int(miss[:, j].sum()) for j, it in enumerate(humans.items)},
        }
    return out


def attempt_summary(humans: SurveyData, attempts: dict[str, np.ndarray | None]) -> dict[str, Any]:
    """Sampled answers: completions drawn per item (retries included), per method."""
    out: dict[str, Any] = {}
    for method, a in attempts.items():
        if a is None or not np.asarray(a).any():
            continue
        arr = np.asarray(a)
        out[method] = {
            "completions": int(arr.sum()),
            "retries": int(np.clip(arr - 1, 0, None).sum()),
            "items": {it.id: int(arr[:, j].sum()) for j, it in enumerate(humans.items)},
        }
    return out


def _local_compare(
    h: Responses,
    v: Responses,
    n_boot: int,
    seed: int,
    level: float,
    dists: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
) -> dict[str, Interval]:
    return compare_with_ci(h, v, n_boot, np.random.default_rng(seed), level, dists, clusters)


def _local_split_half(
    h: Responses, iterations: int, seed: int, level: float
) -> dict[str, Interval]:
    return split_half(h, iterations, np.random.default_rng(seed), level)


def evaluate(
    spec: StudySpec,
    humans: SurveyData,
    panels: dict[str, Panel],
    services: Services = LOCAL,
) -> tuple[
    dict[str, dict[str, Interval]],
    dict[str, Interval],
    dict[str, dict[str, dict[str, Subgroup]]],
    dict[str, dict[str, Subgroup]],
]:
    """Metrics with intervals per virtual panel, the human lower bound, and subgroups
    (each with intervals and its own human lower bound). The panel and bound dicts
    also carry every item's WD (``item_key``), from the same replicates and splits.

    ``services`` say where the comparisons run (this process by default).
    """
    ev = spec.evaluation
    cmp = services.compare or _local_compare
    sh = services.split_half or _local_split_half
    comparisons = {
        name: cmp(
            humans.responses,
            p.responses,
            ev.bootstrap,
            derive_seed(spec.seed, "boot", name),
            ev.level,
            p.dists,
            p.clusters,
        )
        for name, p in panels.items()
    }
    lower = sh(
        humans.responses, ev.split_half_iterations, derive_seed(spec.seed, "split-half"), ev.level
    )
    subgroups, bounds = evaluate_subgroups(spec, humans, panels)
    return comparisons, lower, subgroups, bounds


def evaluate_subgroups(
    spec: StudySpec, humans: SurveyData, panels: dict[str, Panel]
) -> tuple[dict[str, dict[str, dict[str, Subgroup]]], dict[str, dict[str, Subgroup]]]:
    """Per subgroup trait: each panel's metrics within each group, and the humans' own
    split-half bound within it (always in this process: many small computations)."""
    ev = spec.evaluation
    subgroups: dict[str, dict[str, dict[str, Subgroup]]] = {}
    bounds: dict[str, dict[str, Subgroup]] = {}
    for t in ev.subgroups:
        labels = humans.trait_labels(t)
        subgroups[t] = {
            name: by_subgroup(
                humans.responses,
                p.responses,
                labels,
                ev.min_subgroup,
                ev.subgroup_bootstrap,
                np.random.default_rng(derive_seed(spec.seed, "subgroup-boot", t, name)),
                ev.level,
                p.dists,
                p.clusters,
            )
            for name, p in panels.items()
        }
        bounds[t] = subgroup_lower_bounds(
            humans.responses,
            labels,
            ev.split_half_iterations,
            np.random.default_rng(derive_seed(spec.seed, "subgroup-split-half", t)),
            ev.level,
            ev.min_subgroup,
        )
    return subgroups, bounds


def compliance_summary(
    traits: list[str],
    ann_comp: np.ndarray,
    persona_comp: np.ndarray | None,
    base_comp: dict[str, np.ndarray],
) -> dict[str, Any]:
    return {
        "demographics_compliance": {t: float(ann_comp[:, j].mean()) for j, t in enumerate(traits)},
        "survey_compliance": {
            "anthology": float(persona_comp.mean())
            if persona_comp is not None and persona_comp.size
            else None,
            **{m: float(c.mean()) for m, c in base_comp.items()},
        },
    }


def run_matchings(
    spec: StudySpec,
    humans: SurveyData,
    coarse: dict[str, np.ndarray],
    services: Services = LOCAL,
) -> tuple[dict[str, Matching], dict[str, Any]]:
    """Every matching method of the spec, with diagnostics (Hungarian is skipped, with the
    reason, when there are fewer personas than humans)."""
    traits = list(coarse)
    human_cats = {t: humans.traits[t] for t in traits}
    problem = MatchProblem.build(coarse, human_cats)
    weights = humans.responses.weights
    matchings: dict[str, Matching] = {}
    diags: dict[str, Any] = {}
    for method in spec.matching.methods:
        if method == "hungarian" and problem.n_personas < problem.n_humans:
            diags[method] = {
                "skipped": f"needs >= {problem.n_humans} accepted personas, have {problem.n_personas}"
            }
            continue
        m = (services.match or match)(
            spec, problem, method, weights, coarse=coarse, human_cats=human_cats
        )
        matchings[method] = m
        diags[method] = diagnose(m, coarse, human_cats, weights)
    return matchings, diags
