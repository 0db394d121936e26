"""Matching and the metrics as the orchestrator calls them: the services' RPCs."""

from __future__ import annotations

from typing import Any

import numpy as np

from silico.convert import (
    dists_to_proto,
    interval_from_proto,
    problem_to_proto,
    responses_to_proto,
)
from silico.core.matching import Matching
from silico.core.sampling import derive_seed
from silico.core.stats import Interval, Responses
from silico.pipeline.assemble import Services
from silico.pipeline.spec import StudySpec
from silico.v1 import matching_pb2, matching_pb2_grpc, metrics_pb2, metrics_pb2_grpc

#: Seconds an RPC of matching or the metrics may take.
TIMEOUT = 600


def remote_services(matching: Any, metrics: Any) -> Services:
    """:class:`Services` over gRPC channels to the MatchingService and MetricsService."""
    mch = matching_pb2_grpc.MatchingServiceStub(matching)
    met = metrics_pb2_grpc.MetricsServiceStub(metrics)

    def match(
        spec: StudySpec,
        problem: Any,
        method: str,
        weights: np.ndarray,
        coarse: dict[str, np.ndarray],
        human_cats: dict[str, np.ndarray],
    ) -> Matching:
        req = matching_pb2.MatchRequest(
            method=method,
            traits=problem_to_proto(coarse, human_cats),
            capacity=spec.matching.capacity,
            survey_weights=weights.tolist(),
            seed=derive_seed(spec.seed, "random-match"),
            raw_weights=spec.matching.hungarian_objective == "raw",
        )
        r = mch.Match(req, timeout=TIMEOUT)
        return Matching(np.asarray(r.persona, dtype=np.int64), np.asarray(r.log_weight), method)

    def compare(
        h: Responses,
        v: Responses,
        n_boot: int,
        seed: int,
        level: float,
        dists: np.ndarray | None = None,
        clusters: np.ndarray | None = None,
    ) -> dict[str, Interval]:
        req = metrics_pb2.CompareRequest(
            human=responses_to_proto(h),
            virtual=responses_to_proto(v),
            bootstrap=n_boot,
            seed=seed,
            level=level,
            clusters=[] if clusters is None else [int(c) for c in clusters],
            **dists_to_proto(dists),
        )
        r = met.Compare(req, timeout=TIMEOUT)
        return {m: interval_from_proto(i) for m, i in r.metrics.items()}

    def split_half(h: Responses, iterations: int, seed: int, level: float) -> dict[str, Interval]:
        req = metrics_pb2.SplitHalfRequest(
            human=responses_to_proto(h), iterations=iterations, seed=seed, level=level
        )
        r = met.SplitHalf(req, timeout=TIMEOUT)
        return {m: interval_from_proto(i) for m, i in r.metrics.items()}

    return Services(match, compare, split_half)
