"""What a service process is built from: model clients, channels to other services,
the store, and the Kafka handler every stage worker uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import grpc
from google.protobuf.message import Message

from silico.convert import message_to_doc, route_from_proto
from silico.llm import CompletionsClient, ResponseCache, usage_scope
from silico.pipeline.routes import Router
from silico.pipeline.spec import ModelRoute
from silico.pipeline.work import Models, do_unit
from silico.runtime import kafka as k
from silico.runtime import telemetry
from silico.runtime.settings import ServiceSettings
from silico.store import Store
from silico.v1 import events_pb2


def make_lm(
    settings: ServiceSettings, url: str | None = None, name: str | None = None, revision: str = ""
) -> CompletionsClient:
    """A client of the stage's model server (or of ``url`` serving ``name``)."""
    cache = ResponseCache(settings.response_cache) if settings.response_cache else None
    return CompletionsClient(
        url or settings.model_url,
        name or settings.model_name,
        concurrency=settings.model_concurrency,
        max_retries=settings.model_retries,
        cache=cache,
        revision=revision,
    )


def make_router(settings: ServiceSettings) -> Router:
    """The clients a worker calls its units' models with: the route each unit
    carries, within the servers the deployment allows; its own model otherwise."""
    own = ModelRoute(base_url=settings.model_url or None, name=settings.model_name or None)
    critic = settings.role_models()["critic"] if settings.critic_model_url else own
    return Router(
        lambda url, name, revision: make_lm(settings, url, name, revision),
        own,
        critic,
        settings.allowed_models(),
    )


def unit_compute(stage: str, router: Router | None) -> Callable[[events_pb2.WorkItem], Message]:
    """How a worker does a unit: its request, with the models its route names."""

    def compute(item: events_pb2.WorkItem) -> Message:
        request = getattr(item, stage)
        if router is None:
            return do_unit(stage, Models(None), request)  # type: ignore[no-any-return]
        critic = route_from_proto(item.critic_model) if item.HasField("critic_model") else None
        models = router.models(route_from_proto(item.model), critic, item.model.revision)
        return do_unit(stage, models, request)  # type: ignore[no-any-return]

    return compute


def announce(stage: str) -> Callable[[str, str], bytes]:
    """The WorkDone a worker sends for a unit: ok, or the error it can never get past."""

    def build(key: str, error: str) -> bytes:
        study_id, _, unit = key.partition("|")
        return events_pb2.WorkDone(
            study_id=study_id, stage=stage, unit_key=unit, ok=not error, error=error
        ).SerializeToString()

    return build


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


def _ended(store: Store, study_id: str) -> bool:
    from silico.core.errors import NotFoundError

    try:
        return store.get_study(study_id).state in ("succeeded", "failed", "cancelled")
    except NotFoundError:
        return False  # not this store's: the unit's own checks decide


def unit_handler(
    stage: str,
    store: Store,
    compute: Callable[[events_pb2.WorkItem], Message],
    uses_model: bool = False,
) -> Callable[[bytes], tuple[str, bool]]:
    """The Kafka handler every stage worker uses.

    Decodes a ``WorkItem`` (undecodable or of another stage: poison), skips
    the work when the unit's result is already stored (a redelivery), else
    computes its response message from the item (its request and the model
    route it carries) and stores it with the tokens it cost. A
    ``ValidationError`` can never succeed on retry, so it is poison too.
    """
    from silico.core.errors import ValidationError

    def handle(value: bytes) -> tuple[str, bool]:
        try:
            item = events_pb2.WorkItem.FromString(value)
        except Exception as e:
            raise k.PoisonMessage(f"undecodable WorkItem: {e}") from None
        if item.WhichOneof("task") != stage:
            raise k.PoisonMessage(f"not a {stage} task: {item.WhichOneof('task')}")
        key = f"{item.study_id}|{item.unit_key}"
        if store.has_result(item.study_id, stage, item.unit_key):
            return key, True
        if _ended(store, item.study_id):
            return key, True  # cancelled or failed: its units are dropped, not done
        # The unit's own calls only: other units of this worker share the client.
        with usage_scope() as spent:
            try:
                response = compute(item)
            except ValidationError as e:
                raise k.PoisonMessage(str(e)) from None
        usage = asdict(spent) if uses_model else None
        store.put_result(item.study_id, stage, item.unit_key, message_to_doc(response), usage)
        if usage is not None:
            telemetry.record_usage(stage, usage)
        return key, False

    return handle
