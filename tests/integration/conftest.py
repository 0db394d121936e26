"""Real processes on real ports: the embedded model server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from silico.local.procs import EMBEDDED_MODEL as MODEL
from silico.local.procs import ModelServerProc, free_port
from silico.local.procs import start_model_server as _start

__all__ = ["MODEL", "free_port", "start_model_server"]


def start_model_server(log_dir: Path) -> ModelServerProc:
    return _start(log_dir, threads=2)


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerProc]:
    server = start_model_server(tmp_path_factory.mktemp("modelserver"))
    yield server
    server.stop()
