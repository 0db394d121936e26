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


def test_internal_errors_keep_their_text_in_the_log_and_a_lost_store_is_unavailable(caplog):
    import pytest
    from sqlalchemy.exc import OperationalError

    from silico.v1 import matching_pb2, matching_pb2_grpc

    class Broken(matching_pb2_grpc.MatchingServiceServicer):
        def __init__(self) -> None:
            self.error: Exception = RuntimeError("")

        def Match(self, request, context):  # noqa: N802
            raise self.error

    broken = Broken()
    served = serve(
        lambda s: matching_pb2_grpc.add_MatchingServiceServicer_to_server(broken, s),
        ["silico.v1.MatchingService"],
        0,
    )
    try:
        stub = matching_pb2_grpc.MatchingServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{served.port}")
        )
        broken.error = RuntimeError("password=hunter2 at /srv/tenants/lab/data.csv")
        with pytest.raises(grpc.RpcError) as e:
            stub.Match(matching_pb2.MatchRequest(), timeout=5)
        assert e.value.code() == grpc.StatusCode.INTERNAL
        assert "hunter2" not in e.value.details() and "/srv" not in e.value.details()
        ref = e.value.details().rsplit("error ", 1)[1]
        assert any(ref in r.getMessage() for r in caplog.records)  # findable in the log
        broken.error = OperationalError("SELECT 1", {}, Exception("connection refused"))
        with pytest.raises(grpc.RpcError) as e:
            stub.Match(matching_pb2.MatchRequest(), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "SELECT" not in e.value.details()
    finally:
        served.stop(0)


def test_the_study_service_will_not_take_tokens_in_clear_text(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "SILICO_AUTH": "true", "SILICO_GRPC_HOST": "0.0.0.0"}
    env["SILICO_STORE_URL"] = f"sqlite:///{tmp_path / 's.db'}"
    r = subprocess.run(
        [sys.executable, "-m", "services.study"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "clear text" in (r.stderr + r.stdout)
