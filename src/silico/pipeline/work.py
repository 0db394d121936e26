"""One work unit done: request message in, response message out.

Each function is ``to_proto(stage_fn(from_proto(request)))`` around a stage
function of :mod:`silico.pipeline.stages`. The gRPC servicers, the Kafka
workers and the in-process runner all call these, so a unit gives the same
result whichever driver sent it. Bad requests raise
:class:`~silico.core.errors.ValidationError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from silico.convert import (
    annotate_response,
    answer_response,
    backstory_to_proto,
    critic_settings_from_proto,
    item_from_proto,
    trait_definition_from_proto,
    turns_from_proto,
    verdict_to_proto,
)
from silico.core.errors import ValidationError
from silico.core.traits import CATALOGUE, TRAIT_NAMES, Trait
from silico.pipeline.stages import (
    ORDER_POLICIES,
    CriticSettings,
    annotate,
    critic_verdict,
    interview_backstory,
    judge_candidate,
    sample_candidate,
    score_items,
)
from silico.v1 import (
    backstory_pb2,
    common_pb2,
    critic_pb2,
    demographics_pb2,
    survey_pb2,
)

ORDERS = ("identity", "reversed")
ESTIMATORS = ("logprob", "sampled")


@dataclass(frozen=True)
class Models:
    """The models a driver has: the stage's own, and the critic role's (which reviews
    interview answers inside a backstory unit; the same model when there is one)."""

    lm: Any
    critic: Any = None

    @property
    def critic_lm(self) -> Any:
        return self.critic if self.critic is not None else self.lm


def _critic(p: common_pb2.CriticSettings | None) -> CriticSettings:
    return CriticSettings() if p is None else critic_settings_from_proto(p)


def generate(models: Models, req: backstory_pb2.GenerateRequest) -> backstory_pb2.GenerateResponse:
    """A backstory unit: one single-turn attempt, or a whole reviewed interview."""
    st = req.settings
    if req.index < 0:
        raise ValidationError("index", "must be >= 0")
    if st.max_tokens < 1:
        raise ValidationError("settings.max_tokens", "must be >= 1")
    if st.prompt_format not in ("", "plain", "chatml"):
        raise ValidationError("settings.prompt_format", "must be 'plain' or 'chatml'")
    if st.mode not in ("", "single_turn", "interview"):
        raise ValidationError("settings.mode", "must be 'single_turn' or 'interview'")
    if st.variant not in ("", "short", "long"):
        raise ValidationError("settings.variant", "must be 'short' or 'long'")
    sampling = {
        # The id names the model that wrote the story: the one the client calls.
        "model_name": st.model_name or getattr(models.lm, "model", ""),
        "prompt_format": st.prompt_format or "plain",
        "max_tokens": st.max_tokens,
        "temperature": st.temperature,
        "top_p": st.top_p or 1.0,
        "repetition_penalty": st.repetition_penalty or 1.0,
    }
    if st.mode == "interview":
        critic = _critic(st.critic if st.HasField("critic") else None)
        b = interview_backstory(
            models.lm,
            seed=req.study_seed,
            index=req.index,
            critic=models.critic_lm if critic.enabled else None,
            max_attempts=st.max_attempts or 3,
            critic_settings=critic,
            **sampling,
        )
        return backstory_pb2.GenerateResponse(
            text=b.text,
            generated_tokens=b.generated_tokens,
            seed=b.seed,
            backstory_id=b.id,
            interview=backstory_to_proto(b),
        )
    text, tokens, seed, bid = sample_candidate(
        models.lm,
        study_seed=req.study_seed,
        index=req.index,
        attempt=req.attempt,
        variant=st.variant or "long",
        citizen_preamble=st.citizen_preamble,
        **sampling,
    )
    return backstory_pb2.GenerateResponse(
        text=text, generated_tokens=tokens, seed=seed, backstory_id=bid
    )


def review(models: Models, req: critic_pb2.ReviewRequest) -> common_pb2.Verdict:
    """A critic unit: a backstory candidate (``check_length``) or an interview answer."""
    settings = _critic(req.settings if req.HasField("settings") else None)
    # The model is only called for what the settings ask of it.
    wants_model = settings.use_model or settings.min_coherence is not None
    lm = models.lm if wants_model else None
    if req.check_length:
        # An empty candidate is a verdict (too short), not a bad request: it must
        # end its unit, never loop through retries.
        return verdict_to_proto(
            judge_candidate(lm, req.text, req.generated_tokens, req.min_tokens, settings)
        )
    if not req.text.strip():
        raise ValidationError("text", "must not be empty")
    return verdict_to_proto(critic_verdict(lm, req.text, turns_from_proto(req.earlier), settings))


def demographics(
    models: Models, req: demographics_pb2.AnnotateRequest
) -> demographics_pb2.AnnotateResponse:
    """A demographics unit: one persona answers the demographic questionnaire."""
    if not req.backstory.strip():
        raise ValidationError("backstory", "must not be empty")
    if not req.traits:
        raise ValidationError("traits", "name at least one trait")
    traits = _requested_traits(req)
    estimator = req.estimator or "logprob"
    if estimator not in ESTIMATORS:
        raise ValidationError("estimator", "must be 'logprob' or 'sampled'")
    orders = tuple(req.orders) or ("identity",)
    _check_orders(orders)
    probs, comp = annotate(
        models.lm,
        [req.backstory],
        traits,
        estimator,
        req.samples or 40,
        req.seed,
        first_index=req.index,
        orders=orders,
    )
    return annotate_response(list(req.traits), probs, comp)


def _requested_traits(req: demographics_pb2.AnnotateRequest) -> list[Trait]:
    """The traits a demographics unit asks: each a catalogue trait or defined in the
    request. Only the request's definitions count: a worker serves many studies, and
    one study's definition of a name must never answer for another's."""
    defined: dict[str, Trait] = {}
    for i, d in enumerate(req.definitions):
        t = trait_definition_from_proto(d, f"definitions[{i}]")
        if t.name in defined:
            raise ValidationError(f"definitions[{i}].name", f"{t.name!r} is defined twice")
        if t.name not in req.traits:
            raise ValidationError(f"definitions[{i}].name", f"{t.name!r} is not among traits")
        defined[t.name] = t
    unknown = [t for t in req.traits if t not in defined and t not in TRAIT_NAMES]
    if unknown:
        raise ValidationError(
            "definitions",
            f"traits {unknown} are not in the catalogue and have no definition; "
            f"define them, or name catalogue traits: {list(TRAIT_NAMES)}",
        )
    return [defined.get(t) or CATALOGUE[t] for t in req.traits]


def answer(models: Models, req: survey_pb2.AnswerRequest) -> survey_pb2.AnswerResponse:
    """A survey unit: one conditioned context answers its items."""
    if not req.context.strip():
        raise ValidationError("context", "must not be empty")
    if not req.items:
        raise ValidationError("items", "needs at least one item")
    items = [item_from_proto(p) for p in req.items]
    orders = tuple(req.orders) or ("identity",)
    _check_orders(orders)
    estimator = req.estimator or "logprob"
    if estimator not in ESTIMATORS:
        raise ValidationError("estimator", "must be 'logprob' or 'sampled'")
    if not 0.0 <= req.min_compliance <= 1.0:
        raise ValidationError("min_compliance", "must be within 0..1")
    if req.order_policy not in ("", *ORDER_POLICIES):
        raise ValidationError("order_policy", f"must be one of {list(ORDER_POLICIES)}")
    sc = score_items(
        models.lm,
        [req.context],
        items,
        orders,
        estimator,
        seed=req.seed,
        stage=req.stage or "survey",
        max_attempts=req.max_attempts or 3,
        first_index=req.index,
        min_compliance=req.min_compliance,
        series=req.series,
        order_policy=req.order_policy or "all",
    )
    return answer_response(sc, items)


def _check_orders(orders: tuple[str, ...]) -> None:
    bad = [o for o in orders if o not in ORDERS]
    if bad:
        raise ValidationError("orders", f"unknown orders {bad}; known: {list(ORDERS)}")


#: Each queued stage's unit function, by the stage's registry name.
UNIT_FUNCTIONS = {
    "backstory": generate,
    "critic": review,
    "demographics": demographics,
    "survey": answer,
}


def do_unit(stage: str, models: Models, request: Any) -> Any:
    """Do one unit of ``stage`` (a registry name) and return its response message."""
    return UNIT_FUNCTIONS[stage](models, request)
