"""The process shape shared by every Silico service: settings, gRPC server, optional
Kafka worker, metrics port, graceful SIGTERM."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import grpc
from prometheus_client import start_http_server

from silico.llm import CompletionsClient, ResponseCache, usage_scope
from silico.runtime import kafka as k
from silico.runtime import logs, metrics
from silico.runtime.grpc_server import Tls, serve, wait_for_shutdown
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
    worker_concurrency: int | None = None,
) -> int:
    """Run one service until SIGTERM.

    ``worker_concurrency`` is the service's own default for units handled at
    once (``SILICO_WORKER_CONCURRENCY`` overrides it).
    """
    settings = ServiceSettings()
    log = logs.setup(name, settings.log_level)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.grpc_host)
    tls = None
    if settings.tls_cert or settings.tls_key:
        tls = Tls(settings.tls_cert, settings.tls_key, settings.tls_ca or None)
    served = serve(
        lambda s: register(s, settings),
        service_names,
        settings.grpc_port,
        settings.grpc_host,
        tls=tls,
        probe_port=settings.probe_port,
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
            kwargs={
                "concurrency": settings.worker_concurrency
                if "worker_concurrency" in settings.model_fields_set or worker_concurrency is None
                else worker_concurrency
            },
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


def channel(addr: str, settings: ServiceSettings) -> grpc.Channel:
    """A channel to another service: mutual TLS when the settings name a CA."""
    opts = [
        ("grpc.max_receive_message_length", 64 << 20),
        ("grpc.max_send_message_length", 64 << 20),
    ]
    if not settings.tls_ca:
        return grpc.insecure_channel(addr, options=opts)
    from pathlib import Path

    creds = grpc.ssl_channel_credentials(
        Path(settings.tls_ca).read_bytes(),
        Path(settings.tls_key).read_bytes() if settings.tls_key else None,
        Path(settings.tls_cert).read_bytes() if settings.tls_cert else None,
    )
    return grpc.secure_channel(addr, creds, options=opts)


def open_store(settings: ServiceSettings) -> Store:
    return Store(settings.store_url)


def unit_handler(
    stage: str,
    task: str,
    store: Store,
    compute: Callable[[Any], dict[str, Any]],
    lm: CompletionsClient | None = None,
) -> Callable[[bytes], tuple[str, bool]]:
    """The Kafka handler every stage worker uses.

    Decodes a ``WorkItem`` (undecodable or of the wrong task: poison), skips
    the work when the unit's result is already stored (a redelivery), else
    computes it and stores it with the tokens it cost. A ``ValidationError``
    can never succeed on retry, so it is poison too.
    """
    from silico.core.errors import ValidationError

    def handle(value: bytes) -> tuple[str, bool]:
        try:
            item = events_pb2.WorkItem.FromString(value)
        except Exception as e:
            raise k.PoisonMessage(f"undecodable WorkItem: {e}") from None
        if item.WhichOneof("task") != task:
            raise k.PoisonMessage(f"not a {task} task: {item.WhichOneof('task')}")
        key = f"{item.study_id}|{item.unit_key}"
        if item.unit_key in store.result_keys(item.study_id, stage):
            return key, True
        # The unit's own calls only: other units of this worker share the client.
        with usage_scope() as spent:
            try:
                payload = compute(getattr(item, task))
            except ValidationError as e:
                raise k.PoisonMessage(str(e)) from None
        usage = asdict(spent) if lm is not None else None
        store.put_result(item.study_id, stage, item.unit_key, payload, usage)
        if usage is not None:
            metrics.record_usage(stage, usage)
        return key, False

    return handle
