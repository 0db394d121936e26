"""A service whose background loop dies stops reporting SERVING (a real gRPC port)."""

from __future__ import annotations

import threading

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from silico.platform.serve import guarded
from silico.runtime.grpc_server import serve


def test_a_dead_background_loop_turns_health_not_serving():
    served = serve(lambda s: None, ["silico.v1.StudyService"], 0)
    try:
        stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{served.port}"))
        req = health_pb2.HealthCheckRequest(service="silico.v1.StudyService")
        assert stub.Check(req, timeout=5).status == health_pb2.HealthCheckResponse.SERVING

        def loop() -> None:
            raise RuntimeError("the store went away and nobody caught it")

        stop = threading.Event()
        t = threading.Thread(target=guarded(loop, served, stop))
        t.start()
        t.join()
        assert stub.Check(req, timeout=5).status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 2
        # A loop that ends because of shutdown changes nothing.
        served2 = serve(lambda s: None, ["silico.v1.StudyService"], 0)
        stop.set()
        guarded(lambda: None, served2, stop)()
        stub2 = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{served2.port}"))
        assert stub2.Check(req, timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        served2.stop(0)
    finally:
        served.stop(0)
