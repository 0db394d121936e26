"""The plan of a study, per stage: typed work units in, typed results out.

Each ``plan_*`` turns what a study holds so far into the work units it needs
next (stage, key, request message); each ``read_*`` decodes the stage's
stored responses into the values the next stage takes. Both drivers walk
this plan: the in-process runner does each unit with :mod:`silico.pipeline.work`
in this process, the orchestrator sends the same units over Kafka and reads
the stored responses back. Nothing here touches a store, a broker or a port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from silico.convert import (
    backstory_from_proto,
    critic_settings_to_proto,
    item_to_proto,
    trait_definition_to_proto,
    verdict_from_proto,
)
from silico.core.data import SurveyData
from silico.core.errors import ValidationError
from silico.core.prompts import (
    BACKSTORY_QUESTION_LONG,
    BACKSTORY_QUESTION_SHORT,
    baseline_context,
    qa_turn,
)
from silico.core.sampling import derive_seed
from silico.core.traits import Trait
from silico.pipeline import higher_order
from silico.pipeline.backstory_step import (
    Candidate,
    Review,
    Sample,
    attempt_key,
    backstory_step,
)
from silico.pipeline.result import Answers
from silico.pipeline.spec import StudySpec
from silico.pipeline.stages import Backstory, CriticSettings, judge_candidate
from silico.v1 import (
    backstory_pb2,
    common_pb2,
    critic_pb2,
    demographics_pb2,
    survey_pb2,
)

#: The response message each queued stage's units return (and the store keeps).
RESPONSE_TYPES: dict[str, type[Any]] = {
    "backstory": backstory_pb2.GenerateResponse,
    "critic": common_pb2.Verdict,
    "demographics": demographics_pb2.AnnotateResponse,
    "survey": survey_pb2.AnswerResponse,
}


@dataclass(frozen=True)
class Unit:
    """One unit of work: which stage does it, its key (unique within study and stage)
    and its request message."""

    stage: str
    key: str
    request: Any


# -- conditioning --------------------------------------------------------------


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


def human_demographics(humans: SurveyData, h: int) -> dict[str, str]:
    """A respondent's demographics in the survey's own category labels (missing left out)."""
    out = {}
    for t in humans.traits:
        c = int(humans.traits[t][h])
        if c >= 0:
            out[t] = humans.schemes[t].categories[c]
    return out


def baseline_contexts(spec: StudySpec, humans: SurveyData, method: str) -> list[str]:
    """Each respondent's conditioning text for a baseline method.

    QA lists the traits as multiple-choice items over the survey's own
    categories, in an order shuffled per respondent with a recorded seed.
    """
    options = {t: list(s.categories) for t, s in humans.schemes.items()}
    # The study's own definitions travel with its data, never through a registry.
    traits = {t: s.fine_trait for t, s in humans.schemes.items()}
    out = []
    for h in range(humans.n):
        demo = human_demographics(humans, h)
        order = np.random.default_rng(derive_seed(spec.seed, "qa-order", h)).permutation(len(demo))
        out.append(baseline_context(method, demo, options, order.tolist(), traits))
    return out


def trait_definitions(spec: StudySpec) -> dict[str, Trait]:
    """The traits the study defines itself (``data.traits[].categories``), by name."""
    defined = {
        tc.trait: tc.definition for tc in spec.data.trait_columns() if tc.definition is not None
    }
    if spec.higher_order is not None and "party" in defined:
        # Higher-order groups personas by the catalogue party options (higher_order.labels).
        raise ValidationError(
            "data.traits",
            "higher_order needs the catalogue 'party' trait; this study defines its own",
        )
    return defined


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


# -- backstories ---------------------------------------------------------------


def backstory_settings(spec: StudySpec) -> backstory_pb2.BackstorySettings:
    bs = spec.backstories
    return backstory_pb2.BackstorySettings(
        mode=bs.mode,
        variant=bs.variant,
        prompt_format=bs.prompt_format,
        max_tokens=bs.max_tokens,
        min_tokens=bs.min_tokens,
        temperature=bs.temperature,
        top_p=bs.top_p,
        citizen_preamble=bs.citizen_preamble,
        max_attempts=bs.max_attempts,
        repetition_penalty=bs.repetition_penalty,
        model_name=spec.model.route("backstory").name or "",
        critic=critic_settings_to_proto(critic_settings(spec)),
    )


@dataclass(frozen=True)
class BackstoryPlan:
    """The units the backstory stage needs next, and the personas already final."""

    units: list[Unit]
    done: dict[int, Backstory]
    count: int

    @property
    def complete(self) -> bool:
        return len(self.done) == self.count

    def backstories(self) -> list[Backstory]:
        return [self.done[i] for i in range(self.count)]


def _candidate(r: backstory_pb2.GenerateResponse) -> Candidate:
    return Candidate(r.backstory_id, r.text, int(r.seed), int(r.generated_tokens))


def plan_backstories(
    spec: StudySpec,
    generated: Mapping[str, backstory_pb2.GenerateResponse],
    reviewed: Mapping[str, common_pb2.Verdict],
) -> BackstoryPlan:
    """Per persona, the next attempt to sample or review (:func:`backstory_step`), or its
    final backstory. An interview is one unit whose answers were reviewed inside it."""
    bs = spec.backstories
    settings = backstory_settings(spec)
    units: list[Unit] = []
    done: dict[int, Backstory] = {}

    def sample(i: int, a: int) -> Unit:
        req = backstory_pb2.GenerateRequest(
            study_seed=spec.seed, index=i, attempt=a, settings=settings
        )
        return Unit("backstory", attempt_key(i, a), req)

    off = CriticSettings(enabled=False)
    cands = {k: _candidate(r) for k, r in generated.items()}
    verdicts = {k: verdict_from_proto(v) for k, v in reviewed.items()}
    for i in range(bs.count):
        if bs.mode == "interview":
            r = generated.get(attempt_key(i, 0))
            if r is None:
                units.append(sample(i, 0))
            else:
                done[i] = backstory_from_proto(r.interview)
            continue
        step = backstory_step(i, cands, verdicts, bs.max_attempts)
        while isinstance(step, Review) and not spec.critic.enabled:
            # No critic: only the length rule, which needs no model and no unit.
            c = step.candidate
            key = attempt_key(i, step.attempt)
            verdicts[key] = judge_candidate(None, c.text, c.generated_tokens, bs.min_tokens, off)
            step = backstory_step(i, cands, verdicts, bs.max_attempts)
        if isinstance(step, Sample):
            units.append(sample(i, step.attempt))
        elif isinstance(step, Review):
            req = critic_pb2.ReviewRequest(
                text=step.candidate.text,
                settings=settings.critic,
                check_length=True,
                generated_tokens=step.candidate.generated_tokens,
                min_tokens=bs.min_tokens,
            )
            units.append(Unit("critic", attempt_key(i, step.attempt), req))
        else:
            done[i] = step
    return BackstoryPlan(units, done, bs.count)


# -- demographics --------------------------------------------------------------


def plan_demographics(spec: StudySpec, personas: Sequence[Backstory]) -> list[Unit]:
    """One unit per accepted persona: it answers the demographic questionnaire (the
    study's own trait definitions go with each unit, whichever worker takes it)."""
    d = spec.demographics
    traits = spec.traits()
    defined = trait_definitions(spec)
    definitions = [trait_definition_to_proto(defined[t]) for t in traits if t in defined]
    return [
        Unit(
            "demographics",
            f"persona/{k}",
            demographics_pb2.AnnotateRequest(
                backstory=persona_context(spec, b),
                traits=traits,
                estimator=d.estimator,
                samples=d.samples,
                # The seed key predates the stage's name: kept, so recorded studies replay.
                seed=derive_seed(spec.seed, "annotate"),
                index=k,
                orders=list(d.orders),
                definitions=definitions,
            ),
        )
        for k, b in enumerate(personas)
    ]


def read_demographics(
    spec: StudySpec, n: int, results: Mapping[str, demographics_pb2.AnnotateResponse]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per trait the (personas, options) distributions, and the compliance (personas, traits)."""
    traits = spec.traits()
    rows = [{t.trait: t for t in results[f"persona/{k}"].traits} for k in range(n)]
    fine = {t: np.array([list(r[t].probs) for r in rows]) for t in traits}
    comp = np.array([[r[t].compliance for t in traits] for r in rows]).reshape(n, len(traits))
    return fine, comp


# -- survey --------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyPlan:
    """The survey units: each persona (anthology), each respondent per baseline, and
    each partisan persona's perception items (higher-order)."""

    units: list[Unit]
    higher_order_units: list[Any] = field(default_factory=list)


def plan_survey(
    spec: StudySpec,
    humans: SurveyData,
    personas: Sequence[Backstory],
    traits: Mapping[str, np.ndarray],
) -> SurveyPlan:
    a = spec.survey

    def unit(method: str, idx: int, context: str, items: Sequence[Any]) -> Unit:
        req = survey_pb2.AnswerRequest(
            context=context,
            items=[item_to_proto(it) for it in items],
            orders=list(a.orders),
            estimator=a.estimator,
            seed=derive_seed(spec.seed, "survey", method),
            index=idx,
            stage="survey",
            max_attempts=a.max_attempts,
            min_compliance=a.min_compliance,
            series=a.series,
            order_policy=a.order_policy,
        )
        return Unit("survey", f"{method}/{idx}", req)

    items = humans.items
    units = []
    if "anthology" in spec.conditioning:
        units += [
            unit("anthology", k, persona_context(spec, b), items) for k, b in enumerate(personas)
        ]
    for method in (m for m in spec.conditioning if m != "anthology"):
        units += [
            unit(method, h, ctx, items)
            for h, ctx in enumerate(baseline_contexts(spec, humans, method))
        ]
    ho = higher_order.study_units(spec, traits.get("party"))
    units += [
        unit("higher_order", u.persona, persona_context(spec, personas[u.persona]), u.items)
        for u in ho
    ]
    return SurveyPlan(units, ho)


def _gather(
    results: Mapping[str, survey_pb2.AnswerResponse], prefix: str, n: int, ks: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    probs = np.full((n, len(ks), max(ks)), np.nan)
    comp = np.zeros((n, len(ks)))
    att = np.zeros((n, len(ks)), dtype=np.int64)
    for i in range(n):
        for j, d in enumerate(results[f"{prefix}/{i}"].answers):
            if d.probs:  # empty: a dropped, non-compliant answer
                probs[i, j, : ks[j]] = list(d.probs)
            comp[i, j] = d.compliance
            att[i, j] = d.attempts
    return probs, comp, att


def read_survey(
    spec: StudySpec,
    humans: SurveyData,
    n_personas: int,
    plan: SurveyPlan,
    results: Mapping[str, survey_pb2.AnswerResponse],
) -> Answers:
    ks = [it.k for it in humans.items]
    attempts: dict[str, np.ndarray] = {}
    persona, persona_comp = None, np.zeros((n_personas, len(ks)))
    if "anthology" in spec.conditioning:
        persona, persona_comp, attempts["anthology"] = _gather(results, "anthology", n_personas, ks)
    base, base_comp = {}, {}
    for m in (m for m in spec.conditioning if m != "anthology"):
        base[m], base_comp[m], attempts[m] = _gather(results, m, humans.n, ks)
    ho = {
        u.persona: [list(d.probs) for d in results[f"higher_order/{u.persona}"].answers]
        for u in plan.higher_order_units
    }
    return Answers(persona, persona_comp, base, base_comp, attempts, plan.higher_order_units, ho)
