"""The in-process driver: the study's plan (:mod:`silico.pipeline.units`) walked in this
process, each unit done by :mod:`silico.pipeline.work`, no broker.

The stages (``silico.pipeline.registry``): backstories, reviewed by the
critic -> demographics -> matching -> survey answering per conditioning
method -> metrics. The orchestrator walks the same plan over Kafka.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from silico.core.data import SurveyData, load_survey
from silico.core.sampling import derive_seed
from silico.pipeline.assemble import LOCAL, Services, finish, persona_categories, run_matchings
from silico.pipeline.result import Collected, StudyResult
from silico.pipeline.routes import Router
from silico.pipeline.spec import StudySpec
from silico.pipeline.stages import LanguageModel, personas_of
from silico.pipeline.units import (
    Unit,
    plan_backstories,
    plan_demographics,
    plan_survey,
    read_demographics,
    read_survey,
)
from silico.pipeline.work import Models, do_unit

ProgressFn = Callable[[str, int, int], None]


def load_humans(spec: StudySpec) -> SurveyData:
    """The study's human respondents (filtered, sampled with the study seed)."""
    d = spec.data
    data = load_survey(
        d.path,
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


def accepted_personas(spec: StudySpec, backstories: list[Any]) -> list[Any]:
    """The personas a study goes on with; fewer than two cannot be matched."""
    personas = personas_of(backstories, spec.backstories.truncate_words)
    if len(personas) < 2:
        raise RuntimeError(
            f"only {len(personas)} of {len(backstories)} backstories passed the critic; "
            "the study cannot match humans (raise backstories.count or max_attempts)"
        )
    return personas


class _Progress:
    """Per stage, a step counter reported to ``progress`` (units finish on the pool's
    threads, so counting takes a lock)."""

    def __init__(self, progress: ProgressFn | None) -> None:
        self.progress = progress
        self.lock = threading.Lock()

    def stage(self, stage: str, total: int) -> Callable[[int], None]:
        done = [0]
        if self.progress:
            self.progress(stage, 0, total)

        def step(n: int) -> None:
            with self.lock:
                done[0] += n
                if self.progress:
                    self.progress(stage, done[0], total)

        return step


class _Local:
    """Does units in this process, several at once (the model server batches them,
    as it batches a worker's concurrent units), each with its stage's models."""

    def __init__(self, models_for: Callable[[str], Models], concurrency: int) -> None:
        self.models_for = models_for
        self.pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="unit")

    def run(
        self, units: Iterable[Unit], step: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        def one(u: Unit) -> Any:
            out = do_unit(u.stage, self.models_for(u.stage), u.request)
            if step:
                step(1)
            return out

        units = list(units)
        return {u.key: r for u, r in zip(units, self.pool.map(one, units), strict=True)}


def _models_for(
    spec: StudySpec, lm: LanguageModel | Router, critic: LanguageModel | None
) -> tuple[Callable[[str], Models], int]:
    """Each stage's models and how many units run at once: the study's routes
    through a :class:`Router`, or one model for every role (``critic`` reviews)."""
    if isinstance(lm, Router):
        router = lm
        return (lambda stage: router.for_stage(spec.model, stage)), spec.model.concurrency
    both, alone = Models(lm, critic), Models(critic or lm)
    return (lambda stage: alone if stage == "critic" else both), getattr(lm, "concurrency", 1)


def run_study(
    spec: StudySpec,
    lm: LanguageModel | Router,
    progress: ProgressFn | None = None,
    critic: LanguageModel | None = None,
    services: Services = LOCAL,
) -> StudyResult:
    """Run every stage of ``spec`` in this process: against ``lm`` for every role
    (``critic`` reviews interview answers and candidates; ``lm`` when not given),
    or through a :class:`Router` by the study's resolved model routes."""
    seconds: dict[str, float] = {}
    tick = _Progress(progress).stage
    humans = load_humans(spec)
    local = _Local(*_models_for(spec, lm, critic))
    try:
        t0 = time.perf_counter()
        backstories = _backstories(spec, local, tick("backstory", spec.backstories.count))
        seconds["backstory"] = time.perf_counter() - t0
        personas = accepted_personas(spec, backstories)

        t0 = time.perf_counter()
        got = local.run(plan_demographics(spec, personas), tick("demographics", len(personas)))
        fine, demo_comp = read_demographics(spec, len(personas), got)
        seconds["demographics"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        step = tick("matching", 1)
        matchings, diags = run_matchings(
            spec, humans, persona_categories(spec, humans, fine), services
        )
        step(1)
        seconds["matching"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        plan = plan_survey(spec, humans, personas, fine)
        got = local.run(plan.units, tick("survey", len(plan.units)))
        answers = read_survey(spec, humans, len(personas), plan, got)
        seconds["survey"] = time.perf_counter() - t0
    finally:
        # After a failed unit, the units not yet started are dropped, not waited for.
        local.pool.shutdown(cancel_futures=True)
    return finish(
        Collected(spec, humans, backstories, fine, demo_comp, matchings, diags, answers, seconds),
        services,
    )


def _backstories(spec: StudySpec, local: _Local, step: Callable[[int], None]) -> list[Any]:
    """Walk the backstory plan until every persona is final: each round samples the
    attempts due, then the critic reviews them."""
    generated: dict[str, Any] = {}
    reviewed: dict[str, Any] = {}
    done = 0
    while True:
        plan = plan_backstories(spec, generated, reviewed)
        if len(plan.done) > done:
            step(len(plan.done) - done)
            done = len(plan.done)
        if plan.complete:
            return plan.backstories()
        generated.update(local.run(u for u in plan.units if u.stage == "backstory"))
        reviewed.update(local.run(u for u in plan.units if u.stage == "critic"))
