"""Run a study in-process: the same stage functions the services call, no broker.

Stage graph (see ``pipelines/graph.yaml``): backstories -> critic (inside
generation) -> demographics -> matching -> survey answering per conditioning
method -> metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from silico.core.data import SurveyData, load_survey
from silico.core.matching import (
    Matching,
    MatchProblem,
    capacity_match,
    diagnose,
    greedy_match,
    hungarian_match,
    random_match,
)
from silico.core.prompts import (
    BACKSTORY_QUESTION_LONG,
    BACKSTORY_QUESTION_SHORT,
    baseline_context,
    qa_turn,
)
from silico.core.sampling import derive_seed, draw_responses
from silico.core.stats import (
    BOOTSTRAP_METHOD,
    Interval,
    Responses,
    Subgroup,
    by_subgroup,
    compare_with_ci,
    split_half,
    split_half_note,
    subgroup_lower_bounds,
)
from silico.core.traits import coarsen
from silico.pipeline import higher_order
from silico.pipeline.spec import StudySpec
from silico.pipeline.stages import (
    Backstory,
    CriticSettings,
    LanguageModel,
    annotate,
    generate_backstories,
    personas_of,
    score_items,
    stored_answers,
)

#: Stage names in order (progress, token accounting and the report use them).
STAGES = ("backstory", "annotate", "matching", "survey", "metrics")

ProgressFn = Callable[[str, int, int], None]


@dataclass
class StudyResult:
    """Everything a study produced; every table opens in pandas."""

    spec: StudySpec
    humans: SurveyData
    backstories: list[Backstory]
    persona_traits: dict[str, np.ndarray]
    annotate_compliance: np.ndarray
    matchings: dict[str, Matching]
    persona_answers: np.ndarray
    persona_compliance: np.ndarray
    baseline_answers: dict[str, np.ndarray]
    baseline_compliance: dict[str, np.ndarray]
    virtual: dict[str, Responses]
    comparisons: dict[str, dict[str, Interval]]
    lower_bound: dict[str, Interval]
    subgroups: dict[str, dict[str, dict[str, Subgroup]]]
    diagnostics: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    #: Partisan perception gaps (see :mod:`silico.pipeline.higher_order`), if asked.
    higher_order: dict[str, Any] | None = None
    #: The human split-half lower bound within each subgroup: trait -> group -> bound.
    subgroup_bounds: dict[str, dict[str, Subgroup]] = field(default_factory=dict)

    def persona_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "persona_id": [b.id for b in self.backstories],
                "accepted": [b.accepted for b in self.backstories],
                "reason": [b.reason for b in self.backstories],
                "attempts": [b.attempts for b in self.backstories],
                "tokens": [b.tokens for b in self.backstories],
                "backstory": [b.text for b in self.backstories],
            }
        )

    def matching_frame(self) -> pd.DataFrame:
        ids = [b.id for b in self.accepted()]
        rows = []
        for method, m in self.matchings.items():
            for h, (v, lw) in enumerate(zip(m.persona, m.log_weight, strict=True)):
                rows.append((method, self.humans.ids[h], ids[v], float(lw)))
        return pd.DataFrame(rows, columns=["method", "respondent_id", "persona_id", "log_weight"])

    def answer_frame(self) -> pd.DataFrame:
        """Individual virtual responses (positions 1..K) per method, respondent and item."""
        rows = []
        items = [it.id for it in self.humans.items]
        for method, r in self.virtual.items():
            for h in range(r.n):
                for j, item in enumerate(items):
                    rows.append((method, self.humans.ids[h], item, r.values[h, j], r.weights[h]))
        return pd.DataFrame(rows, columns=["method", "respondent_id", "item", "position", "weight"])

    def accepted(self) -> list[Backstory]:
        return [b for b in self.backstories if b.accepted]


def persona_context(spec: StudySpec, backstory: Backstory) -> str:
    """What conditions a persona in every demographic and survey prompt.

    The backstory keeps the framing it was written in, as the official code
    does: the question it answers, then ``Answer:`` and the text. An
    interview transcript is already a run of such turns.
    """
    if spec.backstories.mode == "interview":
        return backstory.text
    question = (
        BACKSTORY_QUESTION_SHORT if spec.backstories.variant == "short" else BACKSTORY_QUESTION_LONG
    )
    return qa_turn(question, backstory.text)


def critic_settings(spec: StudySpec) -> CriticSettings:
    """The study's critic as the stage functions take it."""
    c = spec.critic
    return CriticSettings(
        enabled=c.enabled,
        use_model=c.use_model,
        min_coherence=c.min_coherence,
        allow_fiction=c.allow_fiction,
        language=c.language,
    )


def answer_settings(spec: StudySpec) -> dict[str, Any]:
    """How the survey stage answers (keyword arguments of :func:`score_items`)."""
    a = spec.answers
    return {
        "orders": a.orders,
        "mode": a.mode,
        "max_attempts": a.max_attempts,
        "min_compliance": a.min_compliance,
        "series": a.series,
    }


def load_humans(spec: StudySpec) -> SurveyData:
    """The study's human respondents (filtered, sampled with the study seed)."""
    d = spec.data
    data = load_survey(
        d.csv,
        d.codebook,
        spec.questionnaire.items,
        d.trait_columns(),
        weight=d.weight,
        filters=d.filters,
        id_column=d.id_column,
        reverse=spec.questionnaire.reverse,
        questions=spec.questionnaire.questions,
    )
    answered = np.isfinite(data.responses.values).any(axis=1)
    keep = np.flatnonzero(answered)
    if d.sample and d.sample < len(keep):
        rng = np.random.default_rng(derive_seed(spec.seed, "humans"))
        keep = np.sort(rng.choice(keep, size=d.sample, replace=False))
    return SurveyData(
        ids=data.ids[keep],
        items=data.items,
        responses=data.responses.take(keep),
        traits={t: v[keep] for t, v in data.traits.items()},
        schemes=data.schemes,
        groups={g: v[keep] for g, v in data.groups.items()},
    )


def persona_categories(
    spec: StudySpec, humans: SurveyData, traits_fine: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Persona distributions mapped onto the survey's categories of each trait."""
    return {
        t: np.stack([coarsen(p, humans.schemes[t]) for p in traits_fine[t]]) for t in traits_fine
    }


def match(
    spec: StudySpec, problem: MatchProblem, method: str, weights: np.ndarray, **_: Any
) -> Matching:
    if method == "greedy":
        return greedy_match(problem)
    if method == "hungarian":
        return hungarian_match(problem, raw=spec.matching.hungarian_objective == "raw")
    if method == "capacity":
        return capacity_match(problem, spec.matching.capacity, weights)
    return random_match(
        problem.n_humans,
        problem.n_personas,
        np.random.default_rng(derive_seed(spec.seed, "random-match")),
        problem,
    )


def baseline_contexts(spec: StudySpec, humans: SurveyData, method: str) -> list[str]:
    """Each respondent's conditioning text for a baseline method.

    QA lists the traits as multiple-choice items over the survey's own
    categories, in an order shuffled per respondent with a recorded seed.
    """
    options = {t: list(s.categories) for t, s in humans.schemes.items()}
    out = []
    for h in range(humans.n):
        demo = human_demographics(humans, h)
        order = np.random.default_rng(derive_seed(spec.seed, "qa-order", h)).permutation(len(demo))
        out.append(baseline_context(method, demo, options, order.tolist()))
    return out


def human_demographics(humans: SurveyData, h: int) -> dict[str, str]:
    """A respondent's demographics in the survey's own category labels (missing left out)."""
    out = {}
    for t in humans.traits:
        c = int(humans.traits[t][h])
        if c >= 0:
            out[t] = humans.schemes[t].categories[c]
    return out


def run_study(
    spec: StudySpec, lm: LanguageModel, progress: ProgressFn | None = None
) -> StudyResult:
    """Run every stage of ``spec`` in this process against ``lm``."""
    seconds: dict[str, float] = {}

    def tick(stage: str, total: int) -> Callable[[int], None]:
        done = [0]
        if progress:
            progress(stage, 0, total)

        def step(n: int) -> None:
            done[0] += n
            if progress:
                progress(stage, done[0], total)

        return step

    humans = load_humans(spec)
    bs = spec.backstories
    t0 = time.perf_counter()
    backstories = generate_backstories(
        lm,
        count=bs.count,
        seed=spec.seed,
        model_name=spec.model.name,
        mode=bs.mode,
        variant=bs.variant,
        prompt_format=bs.prompt_format,
        max_tokens=bs.max_tokens,
        min_tokens=bs.min_tokens,
        temperature=bs.temperature,
        top_p=bs.top_p,
        citizen_preamble=bs.citizen_preamble,
        repetition_penalty=bs.repetition_penalty,
        critic=lm,
        critic_settings=critic_settings(spec),
        max_attempts=bs.max_attempts,
        progress=tick("backstory", bs.count),
    )
    seconds["backstory"] = time.perf_counter() - t0
    personas = personas_of(backstories, spec.backstories.truncate_words)
    if len(personas) < 2:
        raise RuntimeError(
            f"only {len(personas)} of {len(backstories)} backstories passed the critic; "
            "the study cannot match humans (raise backstories.count or max_attempts)"
        )
    traits = spec.traits()
    t0 = time.perf_counter()
    contexts = [persona_context(spec, b) for b in personas]
    fine, ann_comp = annotate(
        lm,
        contexts,
        traits,
        spec.demographics.estimator,
        spec.demographics.samples,
        seed=derive_seed(spec.seed, "annotate"),
        progress=tick("annotate", len(personas)),
        orders=spec.demographics.orders,
    )
    seconds["annotate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step = tick("matching", 1)
    coarse = persona_categories(spec, humans, fine)
    matchings, diags = run_matchings(spec, humans, coarse)
    step(1)
    seconds["matching"] = time.perf_counter() - t0

    items = humans.items
    ks = humans.responses.ks
    t0 = time.perf_counter()
    anthology = "anthology" in spec.conditioning
    baselines = [c for c in spec.conditioning if c != "anthology"]
    ho_units = higher_order.study_units(spec, fine.get("party"))
    total = (len(personas) if anthology else 0) + len(baselines) * humans.n + len(ho_units)
    survey_step = tick("survey", total)
    kmax = int(ks.max())
    persona_answers = np.full((len(personas), len(items), kmax), np.nan)
    persona_comp = np.zeros((len(personas), len(items)))
    attempts: dict[str, np.ndarray] = {}
    if anthology:
        sc = score_items(
            lm,
            contexts,
            items,
            seed=derive_seed(spec.seed, "survey", "anthology"),
            stage="survey",
            progress=survey_step,
            **answer_settings(spec),
        )
        persona_answers, persona_comp = sc.probs, sc.compliance
        attempts["anthology"] = sc.attempts
    base_answers, base_comp = {}, {}
    for method in baselines:
        ctxs = baseline_contexts(spec, humans, method)
        sc = score_items(
            lm,
            ctxs,
            items,
            seed=derive_seed(spec.seed, "survey", method),
            stage="survey",
            progress=survey_step,
            **answer_settings(spec),
        )
        base_answers[method], base_comp[method] = sc.probs, sc.compliance
        attempts[method] = sc.attempts
    ho_answers = higher_order_answers(lm, spec, personas, ho_units, survey_step)
    seconds["survey"] = time.perf_counter() - t0

    return finish(
        spec,
        humans,
        backstories,
        fine,
        ann_comp,
        matchings,
        diags,
        persona_answers if anthology else None,
        persona_comp,
        base_answers,
        base_comp,
        seconds,
        higher_order_units=ho_units,
        higher_order_answers=ho_answers,
        attempts=attempts,
    )


def finish(
    spec: StudySpec,
    humans: SurveyData,
    backstories: list[Backstory],
    fine: dict[str, np.ndarray],
    ann_comp: np.ndarray,
    matchings: dict[str, Matching],
    diags: dict[str, Any],
    persona_answers: np.ndarray | None,
    persona_comp: np.ndarray,
    base_answers: dict[str, np.ndarray],
    base_comp: dict[str, np.ndarray],
    seconds: dict[str, float],
    compare_fn: Callable[..., Any] | None = None,
    split_half_fn: Callable[..., Any] | None = None,
    higher_order_units: list[Any] | None = None,
    higher_order_answers: dict[int, list[list[float]]] | None = None,
    attempts: dict[str, np.ndarray | None] | None = None,
) -> StudyResult:
    """Draw the virtual responses, compute every metric, and assemble the result
    (shared by the in-process runner and the orchestrator)."""
    t0 = time.perf_counter()
    ks = humans.responses.ks
    if not spec.evaluation.weighted:
        # The released code's convention: every respondent counts once.
        r = humans.responses
        humans = replace(humans, responses=Responses(r.values, r.ks, np.ones(r.n)))
    n_personas = len([b for b in backstories if b.accepted])
    if persona_answers is None:
        persona_answers = np.full((n_personas, len(humans.items), int(ks.max())), np.nan)
        used = None
    else:
        used = persona_comp
    panels = virtual_panels(
        spec, matchings, persona_answers, base_answers, ks, humans.responses.weights
    )
    virtual = {name: p.responses for name, p in panels.items()}
    comparisons, lower, subgroups, bounds = evaluate(
        spec, humans, panels, compare_fn, split_half_fn
    )
    diags.update(compliance_summary(spec.traits(), ann_comp, used, base_comp))
    diags["dropped_answers"] = dropped_answers(humans, virtual)
    diags["answer_attempts"] = attempt_summary(humans, attempts or {})
    diags["bootstrap_method"] = BOOTSTRAP_METHOD
    diags["split_half"] = {
        "iterations": spec.evaluation.split_half_iterations,
        "half_size": humans.n // 2,
        "warning": split_half_note(humans.n),
    }
    gaps = None
    if spec.higher_order is not None:
        gaps = higher_order.study_gap_table(
            spec,
            humans,
            matchings,
            higher_order_units or [],
            higher_order_answers or {},
            derive_seed(spec.seed, "higher-order-bootstrap"),
            spec.evaluation.level,
        )
    seconds = {**seconds, "metrics": time.perf_counter() - t0}
    return StudyResult(
        spec,
        humans,
        backstories,
        fine,
        ann_comp,
        matchings,
        persona_answers,
        persona_comp,
        base_answers,
        base_comp,
        virtual,
        comparisons,
        lower,
        subgroups,
        diags,
        seconds,
        gaps,
        bounds,
    )


def higher_order_answers(
    lm: LanguageModel,
    spec: StudySpec,
    personas: list[Backstory],
    units: list[Any],
    progress: Any = None,
) -> dict[int, list[list[float]]]:
    """Each partisan persona answers its generated perception items (one survey unit each)."""
    out = {}
    for u in units:
        sc = score_items(
            lm,
            [persona_context(spec, personas[u.persona])],
            u.items,
            seed=derive_seed(spec.seed, "survey", "higher_order"),
            stage="survey",
            first_index=u.persona,
            **answer_settings(spec),
        )
        out[u.persona] = stored_answers(sc, u.items)
        if progress:
            progress(1)
    return out


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


def evaluate(
    spec: StudySpec,
    humans: SurveyData,
    panels: dict[str, Panel],
    compare_fn: Callable[..., Any] | None = None,
    split_half_fn: Callable[..., Any] | None = None,
) -> tuple[
    dict[str, dict[str, Interval]],
    dict[str, Interval],
    dict[str, dict[str, dict[str, Subgroup]]],
    dict[str, dict[str, Subgroup]],
]:
    """Metrics with intervals per virtual panel, the human lower bound, and subgroups
    (each with intervals and its own human lower bound).

    ``compare_fn`` / ``split_half_fn`` default to the core functions; the
    distributed orchestrator passes the MetricsService's RPCs instead.
    """
    ev = spec.evaluation

    def local_compare(
        h: Responses,
        v: Responses,
        n_boot: int,
        seed: int,
        level: float,
        dists: np.ndarray | None = None,
        clusters: np.ndarray | None = None,
    ) -> dict[str, Interval]:
        return compare_with_ci(h, v, n_boot, np.random.default_rng(seed), level, dists, clusters)

    def local_split_half(
        h: Responses, iterations: int, seed: int, level: float
    ) -> dict[str, Interval]:
        return split_half(h, iterations, np.random.default_rng(seed), level)

    cmp = compare_fn or local_compare
    sh = split_half_fn or local_split_half
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
    return comparisons, lower, subgroups, bounds


def compliance_summary(
    traits: list[str],
    ann_comp: np.ndarray,
    persona_comp: np.ndarray | None,
    base_comp: dict[str, np.ndarray],
) -> dict[str, Any]:
    return {
        "annotate_compliance": {t: float(ann_comp[:, j].mean()) for j, t in enumerate(traits)},
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
    match_fn: Callable[..., Matching] | None = None,
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
        m = (match_fn or match)(
            spec, problem, method, weights, coarse=coarse, human_cats=human_cats
        )
        matchings[method] = m
        diags[method] = diagnose(m, coarse, human_cats, weights)
    return matchings, diags
