"""``python -m services.study``: StudyService, the orchestrator, and the result-topic listener."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from services.matching.servicer import problem_to_proto
from services.study.servicer import StudyServicer
from silico.convert import dists_to_proto, interval_from_proto, responses_to_proto
from silico.core.matching import Matching
from silico.pipeline.orchestrator import Orchestrator
from silico.runtime import kafka as k
from silico.runtime.app import channel, open_store, run_service
from silico.runtime.settings import ServiceSettings
from silico.v1 import matching_pb2, matching_pb2_grpc, metrics_pb2, metrics_pb2_grpc, study_pb2_grpc

STATE: dict[str, Any] = {}
log = logging.getLogger("silico.study")


def _rpc_fns(settings: ServiceSettings) -> tuple[Any, Any, Any]:
    mch = matching_pb2_grpc.MatchingServiceStub(channel(settings.matching_addr, settings))
    met = metrics_pb2_grpc.MetricsServiceStub(channel(settings.metrics_addr, settings))

    def match_fn(
        spec: Any, problem: Any, method: str, weights: np.ndarray, coarse: Any, human_cats: Any
    ) -> Matching:
        from silico.core.sampling import derive_seed

        req = matching_pb2.MatchRequest(
            method=method,
            traits=problem_to_proto(coarse, human_cats),
            capacity=spec.matching.capacity,
            survey_weights=weights.tolist(),
            seed=derive_seed(spec.seed, "random-match"),
            raw_weights=spec.matching.hungarian_objective == "raw",
        )
        r = mch.Match(req, timeout=600)
        return Matching(np.asarray(r.persona, dtype=np.int64), np.asarray(r.log_weight), method)

    def compare_fn(
        h: Any,
        v: Any,
        n_boot: int,
        seed: int,
        level: float,
        dists: Any = None,
        clusters: Any = None,
    ) -> Any:
        r = met.Compare(
            metrics_pb2.CompareRequest(
                human=responses_to_proto(h),
                virtual=responses_to_proto(v),
                bootstrap=n_boot,
                seed=seed,
                level=level,
                clusters=[] if clusters is None else [int(c) for c in clusters],
                **dists_to_proto(dists),
            ),
            timeout=600,
        )
        return {m: interval_from_proto(i) for m, i in r.metrics.items()}

    def split_half_fn(h: Any, iterations: int, seed: int, level: float) -> Any:
        r = met.SplitHalf(
            metrics_pb2.SplitHalfRequest(
                human=responses_to_proto(h), iterations=iterations, seed=seed, level=level
            ),
            timeout=600,
        )
        return {m: interval_from_proto(i) for m, i in r.metrics.items()}

    return match_fn, compare_fn, split_half_fn


def main() -> int:
    def register(server: grpc.Server, settings: ServiceSettings) -> None:
        store = open_store(settings)
        k.ensure_topics(settings.kafka, k.all_topics())
        match_fn, compare_fn, split_half_fn = _rpc_fns(settings)
        orch = Orchestrator(
            store,
            k.Producer(settings.kafka),
            match_fn,
            compare_fn,
            split_half_fn,
            Path(settings.reports_dir),
            settings.redeliver_after_s,
        )
        STATE["orch"] = orch
        servicer = StudyServicer(
            store,
            orch,
            auth=settings.auth,
            data_root=settings.data_root or None,
            public_data=[p for p in settings.public_data.split(":") if p],
        )
        study_pb2_grpc.add_StudyServiceServicer_to_server(servicer, server)

    def background(settings: ServiceSettings, stop: threading.Event) -> None:
        orch: Orchestrator = STATE["orch"]
        listener = threading.Thread(target=_listen, args=(settings, orch, stop), daemon=True)
        listener.start()
        orch.run(stop)

    return run_service("study", ["silico.v1.StudyService"], register, background=background)


def _listen(settings: ServiceSettings, orch: Orchestrator, stop: threading.Event) -> None:
    """Wake the orchestrator whenever a stage announces a stored result, and
    resync it when the broker has lost messages.

    A broker that restarts with in-memory storage comes back with its topics
    empty: the result topics' end offsets drop. Whatever was in flight is
    gone, so the orchestrator re-enqueues every unit still missing at once
    instead of waiting ``redeliver_after``.
    """
    consumer = None
    high = 0
    last_check = 0.0
    while not stop.is_set():
        try:
            if consumer is None:
                consumer = k.make_consumer(
                    settings.kafka, [k.results_topic(s) for s in k.STAGE_TOPICS], "silico-study"
                )
            if consumer.poll(timeout_ms=500):
                consumer.commit()
                orch.wake.set()
            if time.monotonic() - last_check > 2:
                last_check = time.monotonic()
                parts = consumer.assignment()
                if parts:
                    ends = sum(consumer.end_offsets(list(parts)).values())
                    if ends < high:
                        log.warning("broker lost messages (offsets %d -> %d): resync", high, ends)
                        orch.resync()
                    high = ends
        except Exception as e:
            log.warning("result listener: %s; reconnecting", e)
            k._close(consumer)
            consumer = None
            orch.resync()
            stop.wait(1)


if __name__ == "__main__":
    raise SystemExit(main())
