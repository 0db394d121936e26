"""Study changes, announced: watchers wait for one instead of polling the store."""

from __future__ import annotations

import threading


class Notifier:
    """A version number per study, bumped whenever its state, stage or progress moves.

    A watcher re-reads a study only when its version has changed, and otherwise
    sleeps on a condition: a hundred watchers cost a hundred idle threads, not
    a hundred store queries every half second.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._versions: dict[str, int] = {}

    def bump(self, study_id: str) -> None:
        with self._cond:
            self._versions[study_id] = self._versions.get(study_id, 0) + 1
            self._cond.notify_all()

    def version(self, study_id: str) -> int:
        with self._cond:
            return self._versions.get(study_id, 0)

    def wait(self, study_id: str, seen: int, timeout: float) -> int:
        """Block until the study's version differs from ``seen`` or ``timeout`` passes;
        returns the version then."""
        with self._cond:
            self._cond.wait_for(lambda: self._versions.get(study_id, 0) != seen, timeout)
            return self._versions.get(study_id, 0)

    def forget(self, study_id: str) -> None:
        with self._cond:
            self._versions.pop(study_id, None)
