"""The same study through services + Kafka and in-process: the ratio of wall times.

Both runs are cold (no response cache) and each gets a freshly started model
server, so neither inherits the other's prefix cache. The study is the tiny
CCES spec; its wall time is dominated by model work, which is what the
platform must not slow down.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import grpc
import yaml

from silico.llm import CompletionsClient
from silico.local.procs import EMBEDDED_MODEL, start_model_server
from silico.local.stack import up
from silico.pipeline.runner import run_study
from silico.pipeline.spec import load_spec
from silico.report import write_report
from silico.v1 import common_pb2, study_pb2, study_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "pipelines" / "studies" / "tiny.yaml"
DEFAULT_SPEC = REPO / "pipelines" / "studies" / "cces_2018.yaml"


def _in_process(home: Path, spec_path: Path) -> float:
    spec = load_spec(spec_path)
    server = start_model_server(home / "logs-inproc")
    try:
        # The served name, as `silico run --in-process` resolves an unnamed model.
        name = spec.model.name or EMBEDDED_MODEL
        with CompletionsClient(server.base_url, name, concurrency=spec.model.concurrency) as lm:
            t0 = time.perf_counter()
            # The report too: the platform writes one before a study succeeds.
            write_report(run_study(spec, lm), home / "report-inproc", lm.ledger)
            return time.perf_counter() - t0
    finally:
        server.stop()


def _distributed(home: Path, spec_path: Path) -> tuple[float, float]:
    t_up = time.perf_counter()
    stack = up(home / "stack", response_cache=False)
    started = time.perf_counter() - t_up
    try:
        stub = study_pb2_grpc.StudyServiceStub(grpc.insecure_channel(stack.study_addr))
        spec_yaml = yaml.safe_dump(load_spec(spec_path).model_dump(mode="json"))
        t0 = time.perf_counter()
        st = stub.SubmitStudy(study_pb2.SubmitStudyRequest(spec_yaml=spec_yaml))
        last = None
        for ev in stub.WatchStudy(study_pb2.WatchStudyRequest(study_id=st.id), timeout=3600):
            last = ev
        wall = time.perf_counter() - t0
        if last is None or last.study.state != common_pb2.STUDY_STATE_SUCCEEDED:
            raise RuntimeError(f"distributed study did not succeed: {last}")
        return wall, started
    finally:
        stack.stop()


def _stage_seconds(where: Path) -> dict[str, float]:
    """Per-stage wall seconds from the (first) report's metrics.json under ``where``."""
    import json

    for m in sorted(where.rglob("metrics.json")):
        return dict(json.loads(m.read_text()).get("seconds", {}))
    return {}


def _overhead(spec_path: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        inproc = _in_process(home, spec_path)
        dist, startup = _distributed(home, spec_path)
        stages = {
            "in_process": _stage_seconds(home / "report-inproc"),
            "services_kafka": _stage_seconds(home / "stack"),
        }
    return {
        **{
            f"{side}_{k}_s": round(float(v), 1)
            for side, secs in stages.items()
            for k, v in secs.items()
        },
        "study": spec_path.name,
        "in_process_s": round(inproc, 1),
        "services_kafka_s": round(dist, 1),
        "stack_startup_s (not counted)": round(startup, 1),
        "ratio": round(dist / inproc, 3),
        "goal": "ratio <= 1.05",
    }


def bench_make_run() -> dict[str, object]:
    """``make run`` from cold: the default study through a newly started local stack,
    with an empty response cache (its own state folder), as a new user runs it."""
    import json
    import subprocess
    import sys

    spec = REPO / "pipelines" / "studies" / "cces_2018.yaml"
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "report"
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "silico.cli", "run", str(spec), "--out", str(out)]
            + ["--state-dir", str(Path(d) / "state")],
            cwd=REPO,
            check=True,
        )
        wall = time.perf_counter() - t0
        seconds = json.loads((out / "metrics.json").read_text()).get("seconds", {})
    goal = 600.0
    return {
        "study": spec.name,
        "cold_wall_s": round(wall, 1),
        **{f"{k}_s": round(float(v), 1) for k, v in seconds.items()},
        "goal_s": goal,
        "cold_wall_vs_goal": round(wall / goal, 3),
    }


def bench_platform_overhead() -> dict[str, object]:
    return _overhead(SPEC)


def bench_platform_overhead_default() -> dict[str, object]:
    """The same for the default study (``make run``'s), about 20 minutes on 2 cores."""
    return _overhead(DEFAULT_SPEC)


BENCHMARKS = {
    "platform_overhead": bench_platform_overhead,
    "platform_overhead_default": bench_platform_overhead_default,
    "make_run": bench_make_run,
}
