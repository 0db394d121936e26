"""Proto <-> core conversions: the only module that knows both."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from google.protobuf import json_format
from google.protobuf.message import Message

from silico.core.errors import ValidationError
from silico.core.matching import MatchProblem
from silico.core.prompts import Item, Turn, Verdict
from silico.core.stats import Interval, Responses
from silico.core.traits import Trait, define_trait
from silico.pipeline.spec import ModelRoute
from silico.pipeline.stages import Backstory, CriticSettings, Scored, stored_answers
from silico.v1 import common_pb2, demographics_pb2, events_pb2, survey_pb2

M = TypeVar("M", bound=Message)


def item_to_proto(it: Item) -> common_pb2.Item:
    return common_pb2.Item(
        id=it.id, question=it.question, options=list(it.options), codes=list(it.codes)
    )


def item_from_proto(p: common_pb2.Item) -> Item:
    return Item(p.id, p.question, tuple(p.options), tuple(p.codes))


def verdict_to_proto(v: Verdict) -> common_pb2.Verdict:
    return common_pb2.Verdict(accepted=v.accepted, reason=v.reason, detail=v.detail, score=v.score)


def verdict_from_proto(p: common_pb2.Verdict) -> Verdict:
    return Verdict(p.accepted, p.reason, p.detail, p.score)


def backstory_to_proto(b: Backstory) -> common_pb2.Backstory:
    return common_pb2.Backstory(
        id=b.id,
        text=b.text,
        seed=b.seed,
        generated_tokens=b.generated_tokens,
        attempts=b.attempts,
        accepted=b.accepted,
        reason=b.reason,
        verdicts=[verdict_to_proto(v) for v in b.verdicts],
    )


def backstory_from_proto(p: common_pb2.Backstory) -> Backstory:
    return Backstory(
        p.id,
        p.text,
        int(p.seed),
        int(p.generated_tokens),
        int(p.attempts),
        bool(p.accepted),
        p.reason,
        tuple(verdict_from_proto(v) for v in p.verdicts),
    )


def trait_definition_to_proto(t: Trait) -> common_pb2.TraitDefinition:
    return common_pb2.TraitDefinition(
        name=t.name,
        question=t.question,
        categories=list(t.categories),
        first_person=list(t.first_person),
        second_person=list(t.second_person),
    )


def trait_definition_from_proto(p: common_pb2.TraitDefinition, field: str) -> Trait:
    """A sent definition, checked as a spec's is; errors name ``field`` and the part."""
    try:
        return define_trait(
            p.name, p.question, list(p.categories), list(p.first_person), list(p.second_person)
        )
    except ValidationError as e:
        raise ValidationError(f"{field}.{e.field}", e.message) from None


def annotate_response(
    traits: list[str], probs: dict[str, np.ndarray], compliance: np.ndarray, row: int = 0
) -> demographics_pb2.AnnotateResponse:
    """Row ``row`` of :func:`~silico.pipeline.stages.annotate`'s output."""
    return demographics_pb2.AnnotateResponse(
        traits=[
            common_pb2.TraitDistribution(
                trait=t, probs=probs[t][row].tolist(), compliance=float(compliance[row, j])
            )
            for j, t in enumerate(traits)
        ]
    )


def answer_response(sc: Scored, items: list[Item], row: int = 0) -> survey_pb2.AnswerResponse:
    """Row ``row`` of :func:`~silico.pipeline.stages.score_items`' output; a dropped
    (non-compliant) answer has no probabilities: missing, never guessed."""
    attempts = sc.attempts[row] if sc.attempts is not None else np.zeros(len(items))
    return survey_pb2.AnswerResponse(
        answers=[
            common_pb2.Distribution(probs=p, compliance=float(c), attempts=int(a))
            for p, c, a in zip(
                stored_answers(sc, items, row), sc.compliance[row], attempts, strict=True
            )
        ]
    )


def critic_settings_to_proto(s: CriticSettings) -> common_pb2.CriticSettings:
    return common_pb2.CriticSettings(
        enabled=s.enabled,
        use_model=s.use_model,
        check_coherence=s.min_coherence is not None,
        min_coherence=s.min_coherence or 0.0,
        allow_fiction=s.allow_fiction,
        language=s.language,
    )


def critic_settings_from_proto(p: common_pb2.CriticSettings) -> CriticSettings:
    return CriticSettings(
        enabled=p.enabled,
        use_model=p.use_model,
        min_coherence=p.min_coherence if p.check_coherence else None,
        allow_fiction=p.allow_fiction,
        language=p.language or "en",
    )


def turns_from_proto(turns: Any) -> list[Turn]:
    return [Turn(t.question, t.answer) for t in turns]


def responses_to_proto(r: Responses) -> common_pb2.ResponseMatrix:
    return common_pb2.ResponseMatrix(
        n=r.n, p=r.p, values=r.values.ravel().tolist(), ks=r.ks.tolist(), weights=r.weights.tolist()
    )


def responses_from_proto(p: common_pb2.ResponseMatrix, field: str) -> Responses:
    if p.n <= 0 or p.p <= 0:
        raise ValidationError(f"{field}.n", "needs n > 0 respondents and p > 0 items")
    if len(p.values) != p.n * p.p:
        raise ValidationError(
            f"{field}.values", f"expected n*p = {p.n * p.p} values, got {len(p.values)}"
        )
    if len(p.ks) != p.p:
        raise ValidationError(f"{field}.ks", f"expected {p.p} option counts, got {len(p.ks)}")
    weights = list(p.weights) if len(p.weights) else None
    return Responses.build(np.asarray(p.values, dtype=float).reshape(p.n, p.p), list(p.ks), weights)


def interval_to_proto(i: Interval) -> common_pb2.Interval:
    return common_pb2.Interval(estimate=i.estimate, low=i.low, high=i.high, n=i.n)


def interval_from_proto(p: common_pb2.Interval) -> Interval:
    return Interval(p.estimate, p.low, p.high, p.n)


def dists_to_proto(dists: np.ndarray | None) -> dict[str, Any]:
    """CompareRequest fields carrying the virtual rows' answer distributions."""
    if dists is None:
        return {}
    d = np.asarray(dists, dtype=float)
    return {"virtual_dists": d.ravel().tolist(), "dists_k": int(d.shape[2])}


def dists_from_proto(req: Any, n: int, p: int) -> np.ndarray | None:
    if not len(req.virtual_dists):
        return None
    k = req.dists_k
    if k < 2 or len(req.virtual_dists) != n * p * k:
        raise ValidationError(
            "virtual_dists",
            f"expected n*p*dists_k = {n}*{p}*{k} values, got {len(req.virtual_dists)}",
        )
    return np.asarray(req.virtual_dists, dtype=float).reshape(n, p, k)


def message_to_doc(msg: Message) -> dict[str, Any]:
    """A response message as the store keeps it (JSON; NaN as "NaN")."""
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def message_from_doc(doc: dict[str, Any], cls: type[M]) -> M:
    """A stored response back as its message type."""
    return json_format.ParseDict(doc, cls())


def problem_to_proto(
    coarse: dict[str, np.ndarray], human_cats: dict[str, np.ndarray]
) -> list[common_pb2.TraitMatrix]:
    return [
        common_pb2.TraitMatrix(
            trait=t,
            n_personas=p.shape[0],
            n_categories=p.shape[1],
            probs=p.ravel().tolist(),
            human_categories=human_cats[t].tolist(),
        )
        for t, p in coarse.items()
    ]


def problem_from_proto(traits: Any) -> MatchProblem:
    if not traits:
        raise ValidationError("traits", "needs at least one trait matrix")
    probs, cats = {}, {}
    for i, t in enumerate(traits):
        if t.n_personas <= 0 or t.n_categories <= 0:
            raise ValidationError(f"traits[{i}]", "n_personas and n_categories must be > 0")
        if len(t.probs) != t.n_personas * t.n_categories:
            raise ValidationError(
                f"traits[{i}].probs",
                f"expected {t.n_personas * t.n_categories} values, got {len(t.probs)}",
            )
        probs[t.trait] = np.asarray(t.probs, dtype=float).reshape(t.n_personas, t.n_categories)
        cats[t.trait] = np.asarray(t.human_categories, dtype=np.int64)
    return MatchProblem.build(probs, cats)


def route_to_proto(r: ModelRoute, revision: str = "") -> events_pb2.ModelRoute:
    return events_pb2.ModelRoute(base_url=r.base_url or "", name=r.name or "", revision=revision)


def route_from_proto(p: events_pb2.ModelRoute) -> ModelRoute:
    """Empty fields stay None: the worker's own model fills them."""
    return ModelRoute(base_url=p.base_url or None, name=p.name or None)
