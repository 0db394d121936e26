"""The process shape shared by every Silico service: settings, gRPC server, optional
Kafka worker, metrics port, graceful SIGTERM."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import grpc
from prometheus_client import start_http_server

from silico.llm import CompletionsClient, ResponseCache
from silico.runtime import kafka as k
from silico.runtime import logs
from silico.runtime.grpc_server import serve, wait_for_shutdown
from silico.runtime.settings import ServiceSettings
from silico.store import Store
from silico.v1 import events_pb2


def make_lm(settings: ServiceSettings) -> CompletionsClient:
    cache = ResponseCache(settings.response_cache) if settings.response_cache else None
    return CompletionsClient(
        settings.model_url,
        settings.model_name,
        concurrency=settings.model_concurrency,
        max_retries=settings.model_retries,
        cache=cache,
    )


def usage_delta(lm: CompletionsClient, before: dict[str, Any]) -> dict[str, int]:
    """Tokens spent since ``before`` (a ledger snapshot), summed over stages."""
    after = lm.ledger.snapshot()
    out = {"calls": 0, "prompt": 0, "cached": 0, "generated": 0}
    for stage, u in after.items():
        b = before.get(stage)
        out["calls"] += u.calls - (b.calls if b else 0)
        out["prompt"] += u.prompt - (b.prompt if b else 0)
        out["cached"] += u.cached - (b.cached if b else 0)
        out["generated"] += u.generated - (b.generated if b else 0)
    return out


def announce(stage: str) -> Callable[[str, bool], bytes]:
    def build(key: str, ok: bool) -> bytes:
        study_id = key.split("|", 1)[0]
        return events_pb2.WorkDone(
            study_id=study_id, stage=stage, unit_key=key, ok=ok
        ).SerializeToString()

    return build


def run_service(
    name: str,
    service_names: list[str],
    register: Callable[[grpc.Server, ServiceSettings], None],
    worker: Callable[[ServiceSettings], Callable[[bytes], tuple[str, bool]]] | None = None,
    stage: str | None = None,
    background: Callable[[ServiceSettings, threading.Event], None] | None = None,
) -> int:
    """Run one service until SIGTERM."""
    settings = ServiceSettings()
    log = logs.setup(name, settings.log_level)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.grpc_host)
    served = serve(
        lambda s: register(s, settings), service_names, settings.grpc_port, settings.grpc_host
    )
    log.info("serving %s on %s:%d", ",".join(service_names), settings.grpc_host, served.port)
    stop = threading.Event()
    threads = []
    if worker is not None and stage is not None and settings.kafka:
        k.ensure_topics(settings.kafka, k.all_topics())
        handle = worker(settings)
        t = threading.Thread(
            target=k.run_worker,
            args=(stage, settings.kafka, handle, announce(stage), stop),
            name=f"{stage}-worker",
        )
        t.start()
        threads.append(t)
        log.info("worker consuming %s", k.requests_topic(stage))
    if background is not None:
        t = threading.Thread(target=background, args=(settings, stop), name=f"{name}-background")
        t.start()
        threads.append(t)
    wait_for_shutdown(served, on_stop=stop.set)
    for t in threads:
        t.join(timeout=30)
    return 0


def open_store(settings: ServiceSettings) -> Store:
    return Store(settings.store_url)
