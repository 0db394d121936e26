"""Start a gRPC server with health checking, reflection, error mapping and RPC metrics."""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Counter, Histogram

from silico.core.errors import NotFoundError, QuotaError, SilicoError, ValidationError
from silico.llm import ModelResponseError, ModelServerError

log = logging.getLogger("silico.runtime")

RPCS = Counter("silico_rpc_requests_total", "gRPC requests", ["service", "method", "code"])
RPC_SECONDS = Histogram(
    "silico_rpc_seconds",
    "gRPC request latency",
    ["service", "method"],
    buckets=(0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


class PermissionDeniedError(SilicoError):
    """The caller may not do this (maps to PERMISSION_DENIED)."""


class UnauthenticatedError(SilicoError):
    """No valid API token came with the call (maps to UNAUTHENTICATED)."""


class FailedPreconditionError(SilicoError):
    """The request is sound but the state forbids it now (maps to FAILED_PRECONDITION)."""


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC status for an exception raised by a servicer or the core."""
    if isinstance(exc, ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, NotFoundError):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, PermissionDeniedError):
        return grpc.StatusCode.PERMISSION_DENIED, str(exc)
    if isinstance(exc, UnauthenticatedError):
        return grpc.StatusCode.UNAUTHENTICATED, str(exc)
    if isinstance(exc, QuotaError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
    if isinstance(exc, FailedPreconditionError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, ModelServerError):
        return grpc.StatusCode.UNAVAILABLE, str(exc)
    if isinstance(exc, ModelResponseError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if _store_unreachable(exc):
        return grpc.StatusCode.UNAVAILABLE, "the study store is unreachable; try again shortly"
    # Anything else is a bug: its text (paths, SQL, data) stays in the log, under an id
    # the caller can quote.
    return grpc.StatusCode.INTERNAL, "internal error (see the service log)"


def _store_unreachable(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _logged(method: str, exc: BaseException) -> tuple[grpc.StatusCode, str]:
    code, msg = status_of(exc)
    if code == grpc.StatusCode.INTERNAL:
        ref = uuid.uuid4().hex[:12]
        log.error("%s failed (error %s)", method, ref, exc_info=exc)
        msg = f"{msg}, error {ref}"
    elif code == grpc.StatusCode.UNAVAILABLE:
        log.warning("%s: %s: %s", method, type(exc).__name__, exc)
    return code, msg


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps the core's plain exceptions to status codes and counts every RPC."""

    def intercept_service(
        self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        service, _, method = details.method.rpartition("/")
        service = service.rsplit(".", 1)[-1]

        def wrap_unary(fn: Callable[..., Any]) -> Callable[..., Any]:
            def inner(request: Any, context: grpc.ServicerContext) -> Any:
                t0 = time.perf_counter()
                code = grpc.StatusCode.OK
                try:
                    return fn(request, context)
                except Exception as e:
                    code, msg = _logged(details.method, e)
                    context.abort(code, msg)
                finally:
                    RPCS.labels(service, method, code.name).inc()
                    RPC_SECONDS.labels(service, method).observe(time.perf_counter() - t0)

            return inner

        def wrap_stream(fn: Callable[..., Any]) -> Callable[..., Any]:
            def inner(request: Any, context: grpc.ServicerContext) -> Any:
                code = grpc.StatusCode.OK
                try:
                    yield from fn(request, context)
                except Exception as e:
                    code, msg = _logged(details.method, e)
                    context.abort(code, msg)
                finally:
                    RPCS.labels(service, method, code.name).inc()

            return inner

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                wrap_stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            # An upload: the request is an iterator, the answer one message.
            return grpc.stream_unary_rpc_method_handler(
                wrap_unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


@dataclass(frozen=True)
class Tls:
    """Server certificate files; with ``client_ca`` clients must present a
    certificate it signed (mutual TLS)."""

    cert: str
    key: str
    client_ca: str | None = None

    def credentials(self) -> grpc.ServerCredentials:
        try:
            pair = (Path(self.key).read_bytes(), Path(self.cert).read_bytes())
            ca = Path(self.client_ca).read_bytes() if self.client_ca else None
        except OSError as e:
            raise SilicoError(f"cannot read TLS file: {e}") from None
        return grpc.ssl_server_credentials(
            [pair], root_certificates=ca, require_client_auth=ca is not None
        )


class Served:
    """A running gRPC server with its health servicer."""

    def __init__(
        self,
        server: grpc.Server,
        port: int,
        health_servicer: health.HealthServicer,
        names: Sequence[str],
        probe: grpc.Server | None = None,
    ) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer
        self.names = names
        self.probe = probe

    def stop(self, grace: float = 10.0) -> None:
        for n in [*self.names, ""]:
            self.health.set(n, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace).wait()
        if self.probe is not None:
            self.probe.stop(0)


def _zero_rpc_series(service_names: Sequence[str]) -> None:
    """Each method's OK series exported at 0 from the start (a method called once a
    study would otherwise never show a rate or a latency)."""
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    for full in service_names:
        try:
            svc = pool.FindServiceByName(full)
        except KeyError:
            continue
        for m in svc.methods:
            RPCS.labels(svc.name, m.name, "OK")
            RPC_SECONDS.labels(svc.name, m.name)


def serve(
    register: Callable[[grpc.Server], None],
    service_names: Sequence[str],
    port: int,
    host: str = "127.0.0.1",
    max_workers: int = 16,
    max_message_mb: int = 64,
    tls: Tls | None = None,
    probe_port: int = 0,
) -> Served:
    """Start a server (returns at once; ``wait_for_shutdown`` blocks).

    Args:
        register: adds the servicers to the server.
        service_names: full names (``silico.v1.CriticService``) for health and reflection.
        port: 0 picks a free port (see ``Served.port``).
        tls: serve TLS (mutual when it names a client CA) instead of plaintext.
        probe_port: also serve the health service alone, in plaintext, on this
            port: kubelet's gRPC probes cannot speak TLS.
    """
    opts = [
        ("grpc.max_receive_message_length", max_message_mb * 2**20),
        ("grpc.max_send_message_length", max_message_mb * 2**20),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers), interceptors=[ErrorInterceptor()], options=opts
    )
    register(server)
    _zero_rpc_series(service_names)
    hs = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    reflection.enable_server_reflection(
        [*service_names, reflection.SERVICE_NAME, health.SERVICE_NAME], server
    )
    addr = f"{host}:{port}"
    bound = (
        server.add_secure_port(addr, tls.credentials())
        if tls is not None
        else server.add_insecure_port(addr)
    )
    if bound == 0:
        raise OSError(f"cannot bind {host}:{port}")
    probe = None
    if probe_port:
        probe = grpc.server(futures.ThreadPoolExecutor(2))
        health_pb2_grpc.add_HealthServicer_to_server(hs, probe)
        if probe.add_insecure_port(f"{host}:{probe_port}") == 0:
            raise OSError(f"cannot bind probe port {host}:{probe_port}")
        probe.start()
    server.start()
    for n in [*service_names, ""]:
        hs.set(n, health_pb2.HealthCheckResponse.SERVING)
    return Served(server, bound, hs, service_names, probe)


def wait_for_shutdown(
    served: Served, grace: float = 10.0, on_stop: Callable[[], None] | None = None
) -> None:
    """Block until SIGTERM/SIGINT; then report NOT_SERVING and stop within ``grace`` seconds."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("shutting down")
    if on_stop:
        on_stop()
    served.stop(grace)
