"""A fresh database on the machine's PostgreSQL (127.0.0.1:5432, trust auth), for the
tests that run against it; None when there is none."""

from __future__ import annotations

import os
import uuid

ADMIN = os.environ.get("SILICO_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def fresh_database(prefix: str = "silico_test") -> str | None:
    try:
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=2
        )
    except Exception:
        return None
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {name}")
    conn.close()
    return ADMIN.rsplit("/", 1)[0] + "/" + name
