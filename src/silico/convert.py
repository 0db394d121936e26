"""Proto <-> core conversions: the only module that knows both."""

from __future__ import annotations

from typing import Any

import numpy as np

from silico.core.errors import ValidationError
from silico.core.prompts import Item, Turn, Verdict
from silico.core.stats import Interval, Responses
from silico.pipeline.stages import CriticSettings
from silico.v1 import common_pb2


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


def verdict_to_dict(v: Verdict) -> dict[str, Any]:
    # JSON has no NaN: an unmeasured score is stored as null.
    score = v.score if v.score == v.score else None
    return {"accepted": v.accepted, "reason": v.reason, "detail": v.detail, "score": score}


def verdict_from_dict(d: dict[str, Any]) -> Verdict:
    score = d.get("score")
    return Verdict(
        bool(d["accepted"]),
        str(d.get("reason", "")),
        str(d.get("detail", "")),
        float("nan") if score is None else float(score),
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
