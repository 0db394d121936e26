"""The checked-in generated code matches protos/, and the protos pass buf lint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh():
    r = subprocess.run(
        [sys.executable, "tools/gen_protos.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def test_buf_lint_passes():
    buf = Path(sys.executable).parent / "buf"
    r = subprocess.run([str(buf), "lint"], cwd=REPO / "protos", capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
