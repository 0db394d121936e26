"""Folders written whole: a reader never sees a half-written one."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_dir(out: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yield an empty folder beside ``out``; on success it becomes ``out``.

    On an error the partial folder is removed and ``out`` is left as it was.
    ``replace=False`` keeps an ``out`` that exists by then (another process
    finished first) and drops this one.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists() and replace:
            shutil.rmtree(out)
        try:
            tmp.rename(out)
        except OSError:
            if replace or not out.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
