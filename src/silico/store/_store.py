"""Studies, the shared backstory library and every stage result, written idempotently.

A stage result is keyed by (study, stage, unit): writing the same key twice
keeps the first write, so a redelivered Kafka message never duplicates
anything. The store, not the broker, says what a study still lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from silico.core.errors import NotFoundError, QuotaError, ValidationError

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = ("succeeded", "failed", "cancelled")


class Base(DeclarativeBase):
    pass


class StudyRow(Base):
    __tablename__ = "studies"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), default="default", index=True)
    name: Mapped[str] = mapped_column(String(200))
    spec_yaml: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    stage: Mapped[str] = mapped_column(String(32), default="")
    created: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)


class ResultRow(Base):
    """One unit of stage output (a backstory verdict, a persona's traits, a matching...)."""

    __tablename__ = "results"
    study_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    payload: Mapped[Any] = mapped_column(JSON)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    generated_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[float] = mapped_column(Float)


class BackstoryRow(Base):
    """The backstory library, shared across studies: text and how it was made, no human data."""

    __tablename__ = "backstories"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))
    params: Mapped[Any] = mapped_column(JSON)
    seed: Mapped[str] = mapped_column(String(32))
    tokens: Mapped[int] = mapped_column(Integer)
    created: Mapped[float] = mapped_column(Float)


class TenantRow(Base):
    """A survey team. Only a hash of its API token is kept."""

    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    max_active_studies: Mapped[int] = mapped_column(Integer, default=4)
    max_humans: Mapped[int] = mapped_column(Integer, default=20000)
    max_backstories: Mapped[int] = mapped_column(Integer, default=20000)
    created: Mapped[float] = mapped_column(Float)


class DatasetRow(Base):
    """Respondent data a tenant uploaded; the bytes live in the study service's
    dataset folder, never in the database, logs or metrics."""

    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True)
class StoredDataset:
    id: str
    tenant: str
    filename: str
    size_bytes: int
    sha256: str
    path: str
    created: float


def _dataset(r: DatasetRow) -> StoredDataset:
    return StoredDataset(r.id, r.tenant, r.filename, r.size_bytes, r.sha256, r.path, r.created)


@dataclass(frozen=True)
class Tenant:
    id: str
    max_active_studies: int
    max_humans: int
    max_backstories: int


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class StoredStudy:
    id: str
    tenant: str
    name: str
    spec_yaml: str
    state: str
    error: str
    stage: str
    created: float
    updated: float


def _study(r: StudyRow) -> StoredStudy:
    return StoredStudy(
        r.id, r.tenant, r.name, r.spec_yaml, r.state, r.error, r.stage, r.created, r.updated
    )


def _count_active(s: Any, tenant: str) -> int:
    """Studies of ``tenant`` queued or running, within session ``s``."""
    q = select(func.count()).select_from(StudyRow)
    return int(
        s.scalar(q.where(StudyRow.tenant == tenant, StudyRow.state.in_(["queued", "running"]))) or 0
    )


class Store:
    """Access to the study database.

    Args:
        url: SQLAlchemy URL (``sqlite:///path.db`` or ``postgresql+psycopg2://...``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        kw: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kw["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            # After a database restart the pooled connections are dead: test each
            # before use instead of failing the first call that draws one.
            kw["pool_pre_ping"] = True
        self.engine = create_engine(url, **kw)
        if url.startswith("sqlite"):

            @event.listens_for(self.engine, "connect")
            def _pragmas(conn: Any, _: Any) -> None:
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

        Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    # -- tenants -----------------------------------------------------------

    def create_tenant(
        self,
        tenant_id: str,
        max_active_studies: int = 4,
        max_humans: int = 20000,
        max_backstories: int = 20000,
    ) -> str:
        """Create a tenant; returns its API token (shown once, stored hashed)."""
        if (
            not tenant_id
            or len(tenant_id) > 128
            or not tenant_id.replace("-", "").replace("_", "").isalnum()
        ):
            raise ValidationError("tenant", "use 1-128 letters, digits, '-' or '_'")
        token = "sil_" + secrets.token_urlsafe(32)
        row = TenantRow(
            id=tenant_id,
            token_sha256=token_hash(token),
            max_active_studies=max_active_studies,
            max_humans=max_humans,
            max_backstories=max_backstories,
            created=time.time(),
        )
        try:
            with self._session.begin() as s:
                s.add(row)
        except IntegrityError:
            raise ValidationError("tenant", f"{tenant_id!r} exists already") from None
        return token

    def tenant_for_token(self, token: str) -> Tenant | None:
        with self._session() as s:
            r = s.scalars(
                select(TenantRow).where(TenantRow.token_sha256 == token_hash(token))
            ).first()
            if r is None:
                return None
            return Tenant(r.id, r.max_active_studies, r.max_humans, r.max_backstories)

    def count_active(self, tenant: str) -> int:
        with self._session() as s:
            return _count_active(s, tenant)

    # -- datasets ----------------------------------------------------------

    def add_dataset(self, d: StoredDataset) -> StoredDataset:
        with self._session.begin() as s:
            s.add(DatasetRow(**d.__dict__))
        return d

    def get_dataset(self, dataset_id: str, tenant: str) -> StoredDataset:
        """A tenant's dataset; another tenant's id is NOT_FOUND, as an unknown one."""
        with self._session() as s:
            r = s.get(DatasetRow, dataset_id)
            if r is None or r.tenant != tenant:
                raise NotFoundError("dataset", dataset_id)
            return _dataset(r)

    def list_datasets(self, tenant: str) -> list[StoredDataset]:
        with self._session() as s:
            q = select(DatasetRow).where(DatasetRow.tenant == tenant).order_by(DatasetRow.created)
            return [_dataset(r) for r in s.scalars(q)]

    def delete_dataset(self, dataset_id: str, tenant: str) -> StoredDataset:
        with self._session.begin() as s:
            r = s.get(DatasetRow, dataset_id)
            if r is None or r.tenant != tenant:
                raise NotFoundError("dataset", dataset_id)
            d = _dataset(r)
            s.delete(r)
            return d

    # -- studies -----------------------------------------------------------

    def create_study(
        self,
        name: str,
        spec_yaml: str,
        tenant: str = "default",
        study_id: str | None = None,
        max_active: int | None = None,
    ) -> StoredStudy:
        """Store a new queued study; with ``max_active``, only while the tenant has fewer
        studies queued or running. The check and the insert are one transaction, so
        concurrent submissions can never pass the limit together."""
        now = time.time()
        row = StudyRow(
            id=study_id or f"st-{uuid.uuid4().hex[:16]}",
            tenant=tenant,
            name=name,
            spec_yaml=spec_yaml,
            state="queued",
            error="",
            stage="",
            created=now,
            updated=now,
        )
        with self._session.begin() as s:
            if max_active is not None and self.engine.dialect.name == "postgresql":
                # Submissions of one tenant take turns (released at commit).
                key = int.from_bytes(hashlib.sha256(tenant.encode()).digest()[:8], "big") >> 1
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            s.add(row)
            s.flush()  # SQLite: the write lock is held from here to the commit
            if max_active is not None:
                if _count_active(s, tenant) > max_active:
                    raise QuotaError(
                        f"{max_active} studies are already queued or running (this tenant's "
                        "limit); wait for one to finish or cancel one"
                    )
        return _study(row)

    def get_study(self, study_id: str, tenant: str | None = None) -> StoredStudy:
        with self._session() as s:
            r = s.get(StudyRow, study_id)
            if r is None or (tenant is not None and r.tenant != tenant):
                raise NotFoundError("study", study_id)
            return _study(r)

    def list_studies(
        self, tenant: str | None = None, limit: int = 100, states: Iterable[str] | None = None
    ) -> list[StoredStudy]:
        with self._session() as s:
            q = select(StudyRow).order_by(StudyRow.created.desc()).limit(limit)
            if tenant is not None:
                q = q.where(StudyRow.tenant == tenant)
            if states is not None:
                q = q.where(StudyRow.state.in_(list(states)))
            return [_study(r) for r in s.scalars(q)]

    def set_state(
        self, study_id: str, state: str, error: str = "", stage: str | None = None
    ) -> StoredStudy:
        if state not in STATES:
            raise ValidationError("state", f"{state!r} is not one of {STATES}")
        with self._session.begin() as s:
            r = s.get(StudyRow, study_id)
            if r is None:
                raise NotFoundError("study", study_id)
            if r.state in FINAL and state != r.state:
                return _study(r)  # a finished study stays finished
            r.state, r.error, r.updated = state, error, time.time()
            if stage is not None:
                r.stage = stage
            return _study(r)

    def set_stage(self, study_id: str, stage: str) -> None:
        with self._session.begin() as s:
            s.execute(
                update(StudyRow)
                .where(StudyRow.id == study_id)
                .values(stage=stage, updated=time.time())
            )

    # -- results -----------------------------------------------------------

    def put_result(
        self,
        study_id: str,
        stage: str,
        unit_key: str,
        payload: Any,
        usage: dict[str, int] | None = None,
    ) -> bool:
        """Store a unit's result; ``False`` when the key was already stored (kept as it was)."""
        u = usage or {}
        row = ResultRow(
            study_id=study_id,
            stage=stage,
            unit_key=unit_key,
            payload=payload,
            calls=int(u.get("calls", 0)),
            prompt_tokens=int(u.get("prompt", 0)),
            cached_tokens=int(u.get("cached", 0)),
            generated_tokens=int(u.get("generated", 0)),
            created=time.time(),
        )
        try:
            with self._session.begin() as s:
                s.add(row)
            return True
        except IntegrityError:
            return False

    def get_result(self, study_id: str, stage: str, unit_key: str) -> Any:
        with self._session() as s:
            r = s.get(ResultRow, (study_id, stage, unit_key))
            if r is None:
                raise NotFoundError("result", f"{study_id}/{stage}/{unit_key}")
            return r.payload

    def results(self, study_id: str, stage: str) -> dict[str, Any]:
        with self._session() as s:
            rows = s.execute(
                select(ResultRow.unit_key, ResultRow.payload).where(
                    ResultRow.study_id == study_id, ResultRow.stage == stage
                )
            )
            return {k: p for k, p in rows}

    def has_result(self, study_id: str, stage: str, unit_key: str) -> bool:
        """Whether one unit's result is stored (a primary-key lookup, not a scan)."""
        with self._session() as s:
            return s.get(ResultRow, (study_id, stage, unit_key)) is not None

    def result_keys(self, study_id: str, stage: str) -> set[str]:
        with self._session() as s:
            return set(
                s.scalars(
                    select(ResultRow.unit_key).where(
                        ResultRow.study_id == study_id, ResultRow.stage == stage
                    )
                )
            )

    def count_results(self, study_id: str, stage: str) -> int:
        with self._session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(ResultRow)
                    .where(ResultRow.study_id == study_id, ResultRow.stage == stage)
                )
                or 0
            )

    def usage(self, study_id: str) -> dict[str, dict[str, int]]:
        with self._session() as s:
            rows = s.execute(
                select(
                    ResultRow.stage,
                    func.sum(ResultRow.calls),
                    func.sum(ResultRow.prompt_tokens),
                    func.sum(ResultRow.cached_tokens),
                    func.sum(ResultRow.generated_tokens),
                )
                .where(ResultRow.study_id == study_id)
                .group_by(ResultRow.stage)
            )
            return {
                st: {
                    "calls": int(a or 0),
                    "prompt": int(b or 0),
                    "cached": int(c or 0),
                    "generated": int(d or 0),
                }
                for st, a, b, c, d in rows
            }

    # -- backstory library -----------------------------------------------------

    def put_backstory(
        self,
        backstory_id: str,
        text: str,
        model: str,
        params: dict[str, Any],
        seed: int,
        tokens: int,
    ) -> bool:
        row = BackstoryRow(
            id=backstory_id,
            text=text,
            model=model,
            params=params,
            seed=str(seed),
            tokens=tokens,
            created=time.time(),
        )
        try:
            with self._session.begin() as s:
                s.add(row)
            return True
        except IntegrityError:
            return False

    def backstories(
        self, model: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        with self._session() as s:
            q = select(BackstoryRow).order_by(BackstoryRow.created)
            if model:
                q = q.where(BackstoryRow.model == model)
            if limit:
                q = q.limit(limit)
            return [
                {
                    "id": r.id,
                    "text": r.text,
                    "model": r.model,
                    "params": r.params,
                    "seed": int(r.seed),
                    "tokens": r.tokens,
                }
                for r in s.scalars(q)
            ]

    def export_backstories(self, path: str) -> int:
        """Write the library as JSON Lines, or Parquet when ``path`` ends in
        ``.parquet`` (``params`` as a JSON string); returns the count."""
        rows = self.backstories()
        # Written beside the target and renamed: a failed export leaves no partial file.
        tmp = f"{path}.tmp{os.getpid()}"
        try:
            if str(path).endswith(".parquet"):
                import pandas as pd

                pd.DataFrame(
                    [{**r, "params": json.dumps(r["params"], sort_keys=True)} for r in rows],
                    columns=["id", "text", "model", "params", "seed", "tokens"],
                ).to_parquet(tmp, index=False)
            else:
                with open(tmp, "w") as f:
                    for r in rows:
                        f.write(json.dumps(r) + "\n")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return len(rows)
