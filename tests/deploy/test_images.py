"""The image definitions: non-root final stages, and every path they copy exists
(a Docker engine is not available here to build them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "deploy" / "docker").glob("Dockerfile*"))


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_runs_as_non_root(path):
    text = path.read_text()
    final = text.split("\nFROM ")[-1]
    users = re.findall(r"^USER\s+(\S+)", final, flags=re.M)
    assert users, f"{path.name}: the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, f"{path.name}: runs as {users[-1]}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_copied_sources_exist(path):
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", path.read_text(), flags=re.M):
        parts = [p for p in line.split() if not p.startswith("--")]
        for src in parts[:-1]:
            assert (REPO / src).exists(), f"{path.name}: COPY {src} does not exist"


def test_service_image_default_command_is_a_service():
    text = (REPO / "deploy" / "docker" / "Dockerfile").read_text()
    cmd = re.search(r'^CMD \["python", "-m", "([\w.]+)"\]', text, flags=re.M)
    assert cmd and (REPO / cmd.group(1).replace(".", "/") / "__main__.py").is_file()
