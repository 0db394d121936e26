"""The one way a Silico service process runs: settings, its gRPC server, its Kafka
worker when its stage is queued, the orchestrator when it is the study service,
a metrics port, and a graceful SIGTERM."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from prometheus_client import start_http_server

from silico.net import is_loopback
from silico.pipeline.registry import BY_NAME
from silico.pipeline.routes import Router, resolver
from silico.pipeline.work import Models
from silico.runtime import kafka as k
from silico.runtime import logs
from silico.runtime.app import (
    announce,
    channel,
    make_router,
    open_store,
    unit_compute,
    unit_handler,
)
from silico.runtime.grpc_server import Served, Tls, serve, wait_for_shutdown
from silico.runtime.settings import ServiceSettings

log = logging.getLogger("silico.serve")


@dataclass
class Context:
    """What a servicer is built from."""

    settings: ServiceSettings
    router: Router | None = None
    studies: Any = None

    @property
    def models(self) -> Models | None:
        """The service's own model (an RPC names no route)."""
        if self.router is None:
            return None
        # The backstory service's interview answers are reviewed by the critic role's model.
        return self.router.models(None, self.router.critic_default)


def _threads(name: str) -> int:
    """Server threads: the study service's watchers each hold one while they wait."""
    if name != "study":
        return 16
    from silico.platform.studies import MAX_WATCHERS, SERVER_THREADS

    return MAX_WATCHERS + SERVER_THREADS


def _router(name: str, settings: ServiceSettings) -> Router | None:
    spec = BY_NAME.get(name)
    if spec is None or not spec.role or not settings.model_url:
        return None
    return make_router(settings)


def _service(name: str) -> str:
    """The gRPC service a deployable serves (a registry stage's, or the study API)."""
    return BY_NAME[name].service if name in BY_NAME else "StudyService"


def _adder(name: str) -> Callable[[Any, grpc.Server], None]:
    service = _service(name)
    module = importlib.import_module(f"silico.v1.{name}_pb2_grpc")
    return getattr(module, f"add_{service}Servicer_to_server")  # type: ignore[no-any-return]


def run_service(name: str, servicer: Callable[[Context], Any]) -> int:
    """Run service ``name`` (a registry stage, or ``"study"``) until SIGTERM."""
    settings = ServiceSettings()
    log = logs.setup(name, settings.log_level)
    if settings.auth and not settings.tls_cert and not is_loopback(settings.grpc_host):
        log.error(
            "SILICO_AUTH needs SILICO_TLS_CERT/SILICO_TLS_KEY when serving on %s: "
            "API tokens must never travel in clear text",
            settings.grpc_host,
        )
        return 2
    if settings.telemetry_port:
        start_http_server(settings.telemetry_port, addr=settings.grpc_host)
    tls = None
    if settings.tls_cert or settings.tls_key:
        tls = Tls(settings.tls_cert, settings.tls_key, settings.tls_ca or None)
    ctx = Context(settings, _router(name, settings))
    stop = threading.Event()
    background: list[Callable[[], None]] = []
    if name == "study":
        background = _study(ctx, stop)
    service = _service(name)
    served = serve(
        lambda s: _adder(name)(servicer(ctx), s),
        [f"silico.v1.{service}"],
        settings.grpc_port,
        settings.grpc_host,
        max_workers=_threads(name),
        tls=tls,
        probe_port=settings.probe_port,
    )
    log.info("serving silico.v1.%s on %s:%d", service, settings.grpc_host, served.port)
    stage = BY_NAME.get(name)
    if stage is not None and stage.queued and settings.kafka:
        background.append(_worker(name, ctx, stop))
        log.info("worker consuming %s", stage.requests_topic)
    threads = [
        threading.Thread(target=guarded(f, served, stop), name=f"{name}-{i}")
        for i, f in enumerate(background)
    ]
    for t in threads:
        t.start()
    wait_for_shutdown(served, on_stop=stop.set)
    for t in threads:
        t.join(timeout=30)
    return 0


def guarded(loop: Callable[[], None], served: Served, stop: threading.Event) -> Callable[[], None]:
    """``loop`` that, should it ever end before shutdown (a bug, an error it did not
    catch), turns the service NOT_SERVING: Kubernetes then restarts the pod instead
    of routing calls to a process whose orchestrator or worker is gone."""

    def run() -> None:
        try:
            loop()
        except BaseException:
            log.exception("a background loop failed")
        finally:
            if not stop.is_set():
                log.error("a background loop ended; health is NOT_SERVING from now on")
                for n in [*served.names, ""]:
                    served.health.set(n, health_pb2.HealthCheckResponse.NOT_SERVING)

    return run


def _worker(name: str, ctx: Context, stop: threading.Event) -> Callable[[], None]:
    s = ctx.settings
    if s.create_topics:
        k.ensure_topics(s.kafka_config(), k.all_topics())
    handle = unit_handler(
        name, open_store(s), unit_compute(name, ctx.router), uses_model=ctx.router is not None
    )
    # Every stage takes as many units at once as the in-process runner: a unit's
    # prompts now travel in one request, so interleaved units no longer split a
    # persona's prefix batch (survey workers were held to 2 units, demographics to 4).
    return lambda: k.run_worker(
        name, s.kafka_config(), handle, announce(name), stop, concurrency=s.worker_concurrency
    )


def _study(ctx: Context, stop: threading.Event) -> list[Callable[[], None]]:
    """The study service's orchestrator and result listener (and its API logic)."""
    from silico.platform.datasets import Datasets
    from silico.platform.listener import listen
    from silico.platform.orchestrator import Orchestrator
    from silico.platform.stage_clients import remote_services
    from silico.platform.studies import Studies
    from silico.platform.tenancy import Tenancy

    s = ctx.settings
    store = open_store(s)
    if s.create_topics:
        k.ensure_topics(s.kafka_config(), k.all_topics())
    tenancy = Tenancy(
        store,
        auth=s.auth,
        data_root=s.data_root or None,
        public_data=[p for p in s.public_data.split(":") if p],
        datasets_root=s.datasets_dir,
    )
    datasets = Datasets(store, s.datasets_dir)
    orch = Orchestrator(
        store,
        k.Producer(s.kafka_config()),
        remote_services(channel(s.matching_addr, s), channel(s.metrics_addr, s)),
        Path(s.reports_dir),
        s.redeliver_after_s,
        s.max_in_flight,
        s.max_in_flight_tenant,
        data_check=tenancy.check_data,
        resolve=resolver(s.role_models(), s.allowed_models()),
        locate=datasets.locate,
    )
    ctx.studies = Studies(store, orch, tenancy, datasets)
    return [lambda: listen(s.kafka_config(), orch, stop), lambda: orch.run(stop)]
