"""Folders written whole, and never over a user's files.

A report folder is written beside its target and renamed into place, so a
reader never sees a half-written one. An existing target is replaced only
when Silico wrote it (it holds :data:`MARKER`, or only the names a report
holds): ``--out .`` or a folder of the user's own is refused, never deleted.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from silico.core.errors import SilicoError

#: Written into every report folder Silico makes.
MARKER = ".silico-report"
#: What a report folder holds; an older Silico wrote no marker, only these.
REPORT_NAMES = frozenset({"report.html", "metrics.json", "tables", "data", "plots", MARKER})


class NotOursError(SilicoError):
    """The target folder holds files Silico did not write."""


def is_report_dir(path: Path) -> bool:
    """Whether ``path`` is a report folder Silico wrote (safe to replace)."""
    if (path / MARKER).is_file():
        return True
    names = {p.name for p in path.iterdir()}
    return "report.html" in names and names <= REPORT_NAMES


def check_replaceable(out: str | Path, mine: Callable[[Path], bool] = is_report_dir) -> None:
    """Fail, before any work, when ``out`` exists and is not Silico's to replace."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise NotOursError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not mine(out):
        raise NotOursError(
            f"{out} holds files Silico did not write; choose an empty or new folder for --out "
            "(nothing was deleted)"
        )


@contextmanager
def atomic_dir(
    out: str | Path, replace: bool = True, mine: Callable[[Path], bool] = is_report_dir
) -> Iterator[Path]:
    """Yield an empty folder beside ``out``; on success it becomes ``out``.

    On an error the partial folder is removed and ``out`` is left as it was.
    An existing ``out`` is replaced only if ``mine(out)`` says Silico wrote it
    (:func:`check_replaceable`). ``replace=False`` keeps an ``out`` that exists
    by then (another process finished first) and drops this one.
    """
    out = Path(out)
    if replace:
        check_replaceable(out, mine)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists() and replace:
            check_replaceable(out, mine)  # it may have changed while we wrote
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
