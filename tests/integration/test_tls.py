"""TLS on a real service process: server TLS, mutual TLS, and the plaintext
health-only probe port kubelet uses."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from silico.convert import responses_to_proto
from silico.core.stats import Responses
from silico.local.certs import dev_certs
from silico.local.procs import REPO, Proc, free_port
from silico.local.stack import wait_healthy
from silico.v1 import metrics_pb2, metrics_pb2_grpc

pytestmark = pytest.mark.integration


def _start(tmp_path, tls_env: dict[str, str]) -> tuple[Proc, int, int]:
    port, probe = free_port(), free_port()
    log = tmp_path / "metrics.log"
    env = {
        **os.environ,
        "SILICO_GRPC_PORT": str(port),
        "SILICO_PROBE_PORT": str(probe),
        "PYTHONUNBUFFERED": "1",
        **tls_env,
    }
    p = subprocess.Popen(
        [sys.executable, "-m", "services.metrics"],
        cwd=REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc = Proc("metrics", p, log, port)
    # Readiness through the plaintext probe port, as kubelet does.
    wait_healthy(probe, "silico.v1.MetricsService", proc)
    return proc, port, probe


def _split_half(ch: grpc.Channel) -> metrics_pb2.SplitHalfResponse:
    rng = np.random.default_rng(0)
    h = Responses(rng.integers(1, 5, size=(30, 3)).astype(float), np.full(3, 4), np.ones(30))
    req = metrics_pb2.SplitHalfRequest(
        human=responses_to_proto(h), iterations=5, seed=1, level=0.95
    )
    return metrics_pb2_grpc.MetricsServiceStub(ch).SplitHalf(req, timeout=30)


def test_server_tls_and_probe_port(tmp_path):
    certs = dev_certs(tmp_path / "certs")
    proc, port, probe = _start(
        tmp_path,
        {"SILICO_TLS_CERT": str(certs.server_cert), "SILICO_TLS_KEY": str(certs.server_key)},
    )
    try:
        creds = grpc.ssl_channel_credentials(certs.ca.read_bytes())
        with grpc.secure_channel(f"localhost:{port}", creds) as ch:
            assert "wd" in _split_half(ch).metrics
        # Plaintext on the TLS port is refused.
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            with pytest.raises(grpc.RpcError) as e:
                _split_half(ch)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        # The probe port answers health only.
        with grpc.insecure_channel(f"127.0.0.1:{probe}") as ch:
            r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert r.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as e:
                _split_half(ch)
            assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        proc.stop()


def test_mutual_tls_requires_a_client_certificate(tmp_path):
    certs = dev_certs(tmp_path / "certs")
    proc, port, _ = _start(
        tmp_path,
        {
            "SILICO_TLS_CERT": str(certs.server_cert),
            "SILICO_TLS_KEY": str(certs.server_key),
            "SILICO_TLS_CA": str(certs.ca),
        },
    )
    try:
        no_cert = grpc.ssl_channel_credentials(certs.ca.read_bytes())
        with grpc.secure_channel(f"localhost:{port}", no_cert) as ch:
            with pytest.raises(grpc.RpcError) as e:
                _split_half(ch)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        with_cert = grpc.ssl_channel_credentials(
            certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes()
        )
        with grpc.secure_channel(f"localhost:{port}", with_cert) as ch:
            assert "wd" in _split_half(ch).metrics
    finally:
        proc.stop()
