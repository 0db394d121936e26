"""Generate Python code from protos/ into src/ (``make protos``).

Proto paths equal import paths (``protos/silico/v1/x.proto`` -> ``silico.v1.x_pb2``),
so the generated imports need no rewriting. ``--check`` regenerates into a
temporary folder and fails when the checked-in code differs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[1]
PROTOS = REPO / "protos"
OUT = REPO / "src"
PKG = "silico/v1"


def generate(out: Path) -> list[Path]:
    files = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / PKG).glob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    init = out / PKG / "__init__.py"
    init.write_text('"""Generated from protos/silico/v1 by `make protos`; do not edit."""\n')
    return sorted((out / PKG).glob("*"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if not args.check:
        shutil.rmtree(OUT / PKG, ignore_errors=True)
        generate(OUT)
        return 0
    with tempfile.TemporaryDirectory() as d:
        fresh = generate(Path(d))
        stale = []
        for f in fresh:
            if f.name == "__pycache__":
                continue
            mine = OUT / PKG / f.name
            if not mine.exists() or not filecmp.cmp(f, mine, shallow=False):
                stale.append(f.name)
        extra = {p.name for p in (OUT / PKG).glob("*") if p.name != "__pycache__"} - {
            f.name for f in fresh
        }
        stale += sorted(extra)
    if stale:
        print(f"generated code is stale ({', '.join(stale)}): run `make protos`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
