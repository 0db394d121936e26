"""Token accounting per stage: what a study cost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass


@dataclass
class Usage:
    """Tokens of a set of calls.

    ``prompt`` counts every prompt token sent, ``cached`` those the server
    served from its prefix cache (so computed = prompt - cached), ``generated``
    the tokens produced; ``cache_hits`` are calls answered by the client's
    response cache (no server work at all).
    """

    calls: int = 0
    prompt: int = 0
    cached: int = 0
    generated: int = 0
    cache_hits: int = 0
    seconds: float = 0.0

    def add(self, other: Usage) -> None:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)


class UsageLedger:
    """Thread-safe totals of :class:`Usage` by stage name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_stage: dict[str, Usage] = {}

    def record(self, stage: str, usage: Usage) -> None:
        with self._lock:
            self._by_stage.setdefault(stage, Usage()).add(usage)
            for scope in _SCOPES.get():
                scope.add(usage)

    def snapshot(self) -> dict[str, Usage]:
        with self._lock:
            return {k: Usage(**asdict(v)) for k, v in self._by_stage.items()}

    def total(self) -> Usage:
        out = Usage()
        for u in self.snapshot().values():
            out.add(u)
        return out


# Open usage scopes of the current context: calls made inside ``usage_scope()``
# (including from the client's worker threads, which run in a copy of the
# caller's context) are added to it as well as to the ledger.
_SCOPES: ContextVar[tuple[Usage, ...]] = ContextVar("silico_usage_scopes", default=())


@contextmanager
def usage_scope() -> Iterator[Usage]:
    """The usage of exactly the calls made within the block, even when other
    threads use the same client at the same time (a worker's concurrent units)."""
    acc = Usage()
    token = _SCOPES.set((*_SCOPES.get(), acc))
    try:
        yield acc
    finally:
        _SCOPES.reset(token)
