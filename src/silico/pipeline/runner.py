"""Run a study in-process: the same stage functions the services call, no broker.

Stage graph (see ``pipelines/graph.yaml``): backstories -> critic (inside
generation) -> demographics -> matching -> survey answering per conditioning
method -> metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
from silico.core.prompts import baseline_context
from silico.core.sampling import derive_seed, draw_responses
from silico.core.stats import (
    Comparison,
    Interval,
    Responses,
    by_subgroup,
    compare_with_ci,
    split_half,
)
from silico.core.traits import coarsen
from silico.pipeline import higher_order
from silico.pipeline.spec import StudySpec
from silico.pipeline.stages import (
    Backstory,
    LanguageModel,
    annotate,
    generate_backstories,
    personas_of,
    score_items,
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
    subgroups: dict[str, dict[str, dict[str, Comparison]]]
    diagnostics: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    #: Partisan perception gaps (see :mod:`silico.pipeline.higher_order`), if asked.
    higher_order: dict[str, Any] | None = None

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
        return hungarian_match(problem)
    if method == "capacity":
        return capacity_match(problem, spec.matching.capacity, weights)
    return random_match(
        problem.n_humans,
        problem.n_personas,
        np.random.default_rng(derive_seed(spec.seed, "random-match")),
        problem,
    )


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
        critic=lm if spec.critic.use_model else None,
        use_critic=spec.critic.enabled,
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
    fine, ann_comp = annotate(
        lm,
        [b.text for b in personas],
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
    if anthology:
        sc = score_items(
            lm,
            [b.text for b in personas],
            items,
            spec.answers.orders,
            spec.answers.mode,
            seed=derive_seed(spec.seed, "survey", "anthology"),
            stage="survey",
            max_attempts=spec.answers.max_attempts,
            progress=survey_step,
        )
        persona_answers, persona_comp = sc.probs, sc.compliance
    base_answers, base_comp = {}, {}
    for method in baselines:
        contexts = [
            baseline_context(method, human_demographics(humans, h)) for h in range(humans.n)
        ]
        sc = score_items(
            lm,
            contexts,
            items,
            spec.answers.orders,
            spec.answers.mode,
            seed=derive_seed(spec.seed, "survey", method),
            stage="survey",
            max_attempts=spec.answers.max_attempts,
            progress=survey_step,
        )
        base_answers[method], base_comp[method] = sc.probs, sc.compliance
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
) -> StudyResult:
    """Draw the virtual responses, compute every metric, and assemble the result
    (shared by the in-process runner and the orchestrator)."""
    t0 = time.perf_counter()
    ks = humans.responses.ks
    n_personas = len([b for b in backstories if b.accepted])
    if persona_answers is None:
        persona_answers = np.full((n_personas, len(humans.items), int(ks.max())), np.nan)
        used = None
    else:
        used = persona_comp
    virtual = virtual_responses(
        spec, matchings, persona_answers, base_answers, ks, humans.responses.weights
    )
    comparisons, lower, subgroups = evaluate(spec, humans, virtual, compare_fn, split_half_fn)
    diags.update(compliance_summary(spec.traits(), ann_comp, used, base_comp))
    gaps = None
    if spec.higher_order is not None:
        gaps = higher_order.gap_table(
            spec.higher_order,
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
            [personas[u.persona].text],
            u.items,
            spec.answers.orders,
            spec.answers.mode,
            seed=derive_seed(spec.seed, "survey", "higher_order"),
            stage="survey",
            max_attempts=spec.answers.max_attempts,
            first_index=u.persona,
        )
        out[u.persona] = [
            np.nan_to_num(sc.probs[0, j, : it.k]).tolist() for j, it in enumerate(u.items)
        ]
        if progress:
            progress(1)
    return out


def virtual_responses(
    spec: StudySpec,
    matchings: dict[str, Matching],
    persona_answers: np.ndarray,
    base_answers: dict[str, np.ndarray],
    ks: np.ndarray,
    weights: np.ndarray,
) -> dict[str, Responses]:
    """Individual virtual responses, drawn with recorded seeds from the answer distributions.

    Virtual row ``h`` belongs to human ``h`` (its matched persona, or its own
    baseline prompt) and carries that human's survey weight.
    """
    virtual: dict[str, Responses] = {}
    for method, m in matchings.items():
        vals = draw_responses(
            persona_answers[m.persona], ks, derive_seed(spec.seed, "draw", "anthology", method)
        )
        virtual[f"anthology/{method}"] = Responses(vals, ks, weights)
    for method, probs in base_answers.items():
        vals = draw_responses(probs, ks, derive_seed(spec.seed, "draw", method))
        virtual[method] = Responses(vals, ks, weights)
    return virtual


def evaluate(
    spec: StudySpec,
    humans: SurveyData,
    virtual: dict[str, Responses],
    compare_fn: Callable[..., Any] | None = None,
    split_half_fn: Callable[..., Any] | None = None,
) -> tuple[
    dict[str, dict[str, Interval]], dict[str, Interval], dict[str, dict[str, dict[str, Comparison]]]
]:
    """Metrics with intervals per virtual panel, the human lower bound, and subgroups.

    ``compare_fn`` / ``split_half_fn`` default to the core functions; the
    distributed orchestrator passes the MetricsService's RPCs instead.
    """
    ev = spec.evaluation

    def local_compare(
        h: Responses, v: Responses, n_boot: int, seed: int, level: float
    ) -> dict[str, Interval]:
        return compare_with_ci(h, v, n_boot, np.random.default_rng(seed), level)

    def local_split_half(
        h: Responses, iterations: int, seed: int, level: float
    ) -> dict[str, Interval]:
        return split_half(h, iterations, np.random.default_rng(seed), level)

    cmp = compare_fn or local_compare
    sh = split_half_fn or local_split_half
    comparisons = {
        name: cmp(humans.responses, r, ev.bootstrap, derive_seed(spec.seed, "boot", name), ev.level)
        for name, r in virtual.items()
    }
    lower = sh(
        humans.responses, ev.split_half_iterations, derive_seed(spec.seed, "split-half"), ev.level
    )
    subgroups: dict[str, dict[str, dict[str, Comparison]]] = {}
    for t in ev.subgroups:
        labels = humans.trait_labels(t)
        subgroups[t] = {
            name: by_subgroup(humans.responses, r, labels, ev.min_subgroup)
            for name, r in virtual.items()
        }
    return comparisons, lower, subgroups


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
