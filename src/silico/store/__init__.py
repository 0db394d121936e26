"""The durable study store (SQLAlchemy 2): SQLite by default, PostgreSQL in production."""

from silico.store._store import Store, StoredStudy, Tenant, token_hash

__all__ = ["Store", "StoredStudy", "Tenant", "token_hash"]
