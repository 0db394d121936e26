"""MetricsService: human vs virtual comparison and the human split-half lower bound."""

from __future__ import annotations

from typing import Any

import numpy as np

from silico.convert import dists_from_proto, interval_to_proto, responses_from_proto
from silico.core.errors import ValidationError
from silico.core.stats import compare_with_ci, split_half
from silico.v1 import metrics_pb2, metrics_pb2_grpc


class MetricsServicer(metrics_pb2_grpc.MetricsServiceServicer):
    def Compare(
        self, request: metrics_pb2.CompareRequest, context: Any
    ) -> metrics_pb2.CompareResponse:  # noqa: N802
        human = responses_from_proto(request.human, "human")
        virtual = responses_from_proto(request.virtual, "virtual")
        if request.bootstrap < 1:
            raise ValidationError("bootstrap", "must be >= 1")
        level = request.level or 0.95
        dists = dists_from_proto(request, virtual.n, virtual.p)
        clusters = np.asarray(request.clusters, dtype=np.int64) if len(request.clusters) else None
        if clusters is not None and len(clusters) != virtual.n:
            raise ValidationError("clusters", f"need one cluster per virtual row ({virtual.n})")
        out = compare_with_ci(
            human,
            virtual,
            request.bootstrap,
            np.random.default_rng(request.seed),
            level,
            dists,
            clusters,
        )
        return metrics_pb2.CompareResponse(
            metrics={k: interval_to_proto(v) for k, v in out.items()}
        )

    def SplitHalf(
        self, request: metrics_pb2.SplitHalfRequest, context: Any
    ) -> metrics_pb2.CompareResponse:  # noqa: N802
        human = responses_from_proto(request.human, "human")
        out = split_half(
            human, request.iterations, np.random.default_rng(request.seed), request.level or 0.95
        )
        return metrics_pb2.CompareResponse(
            metrics={k: interval_to_proto(v) for k, v in out.items()}
        )
