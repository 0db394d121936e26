"""The science core imports no transport, broker, metrics or network code."""

from __future__ import annotations

import ast
from pathlib import Path

import silico.core

FORBIDDEN = {
    "grpc",
    "kafka",
    "prometheus_client",
    "httpx",
    "requests",
    "socket",
    "urllib",
    "sqlalchemy",
}


def test_core_imports_nothing_forbidden():
    root = Path(silico.core.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders
    assert len(list(root.rglob("*.py"))) > 10
