"""A content-addressed response cache: (model, parameters, prompt, seed) -> response."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def cache_key(model: str, params: Mapping[str, Any], prompt: str) -> str:
    """SHA-256 of the canonical JSON of everything that determines a response."""
    blob = json.dumps(
        {"model": model, "params": dict(params), "prompt": prompt},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """Bounded store of completion responses in SQLite (``":memory:"`` for a process-local one).

    Only deterministic requests belong here (a seed, or temperature 0), so a
    replayed study gets byte-identical responses and a re-run costs nothing.
    The least recently used entries go first once ``max_entries`` is exceeded.
    """

    def __init__(self, path: str | Path = ":memory:", max_entries: int = 1_000_000) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL") if self.path != ":memory:" else None
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, body TEXT NOT NULL, used REAL NOT NULL)"
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
            self._db.execute("UPDATE responses SET used = ? WHERE key = ?", (time.time(), key))
            return json.loads(row[0])  # type: ignore[no-any-return]

    def put(self, key: str, body: Mapping[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, body, used) VALUES (?, ?, ?)",
                (key, json.dumps(body, sort_keys=True), time.time()),
            )
            n = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            if n > self.max_entries:
                self._db.execute(
                    "DELETE FROM responses WHERE key IN (SELECT key FROM responses ORDER BY used LIMIT ?)",
                    (n - self.max_entries,),
                )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
