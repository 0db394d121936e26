"""Real processes on real ports: the embedded model server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = "smollm2-135m-instruct"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ModelServer:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/openai/v1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_model_server(log_dir: Path, *extra: str, timeout: float = 300.0) -> ModelServer:
    port = free_port()
    log = log_dir / f"modelserver-{port}.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.modelserver",
            "--listen-port",
            str(port),
            "--threads",
            "2",
            *extra,
        ],
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    server = ModelServer(port, proc, log)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"model server exited: {log.read_text()[-2000:]}")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/v1/models/{MODEL}", timeout=2)
            if r.status_code == 200 and r.json().get("ready"):
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"model server not ready after {timeout}s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    server = start_model_server(tmp_path_factory.mktemp("modelserver"))
    yield server
    server.stop()
