"""Respondent data uploaded over the API: stored per tenant, checksummed, never half
written, referenced from a spec as ``dataset://<id>``.

An analyst on a laptop has no shell on the server: ``UploadDataset`` streams the
file to the study service, which keeps it under ``<root>/<tenant>/<id>/``. A
spec names it in ``data.csv`` or ``data.codebook``; the study service swaps in
the stored path for the calling tenant only (another tenant's id is NOT_FOUND,
exactly like an id that does not exist). The bytes never reach the database,
the logs or the metrics: only the name, size and checksum do.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from silico.core.data._survey import MAX_CSV_BYTES
from silico.core.errors import QuotaError, ValidationError
from silico.runtime.grpc_server import FailedPreconditionError
from silico.store import Store
from silico.store._store import StoredDataset
from silico.v1 import study_pb2

#: The scheme a spec uses for an uploaded dataset.
SCHEME = "dataset://"
#: File types a dataset may be (data and codebooks).
EXTENSIONS = (".csv", ".json", ".sav", ".dta", ".parquet")
#: Datasets one tenant may keep at once, and their bytes together.
MAX_DATASETS = 100
MAX_TENANT_BYTES = 8 << 30
#: Uploads in progress at once over all tenants: each holds a server thread while
#: its client sends, and slow senders must not take every thread of the API.
MAX_UPLOADS = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,200}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^ds-[0-9a-f]{16}$")


class DatasetInUseError(FailedPreconditionError):
    """A queued or running study reads the dataset."""


class Datasets:
    def __init__(self, store: Store, root: str | Path, max_bytes: int = MAX_CSV_BYTES) -> None:
        self.store = store
        self.root = Path(root).resolve()
        self.max_bytes = max_bytes
        self._uploads = threading.BoundedSemaphore(MAX_UPLOADS)
        # The study service is one process: a lock makes the quota check and the
        # insert one step, and bytes still arriving count against the quota.
        self._lock = threading.Lock()
        self._arriving: dict[str, tuple[int, int]] = {}
        # A crash mid-upload leaves its temporary file: nothing refers to it.
        for stale in self.root.glob("*/.incoming-*"):
            stale.unlink(missing_ok=True)

    def folder(self, tenant: str) -> Path:
        return self.root / tenant

    def upload(self, parts: Iterable[study_pb2.UploadDatasetRequest], tenant: str) -> StoredDataset:
        """Store one streamed file for ``tenant``: the header first, then its chunks.

        The bytes go to a temporary file beside the destination and are moved
        into place only once their size and SHA-256 match the header: a broken
        or lying upload leaves nothing behind."""
        it = iter(parts)
        first = next(it, None)
        if first is None or first.WhichOneof("part") != "header":
            raise ValidationError("header", "the first message must be the file's header")
        h = first.header
        name = Path(h.filename).name
        if not _NAME.match(name) or name != h.filename:
            raise ValidationError(
                "header.filename", "a plain file name: letters, digits, '.', '_' or '-'"
            )
        if not name.lower().endswith(EXTENSIONS):
            raise ValidationError("header.filename", f"must end in one of {list(EXTENSIONS)}")
        if not 0 < h.size_bytes <= self.max_bytes:
            raise ValidationError(
                "header.size_bytes",
                f"must be 1..{self.max_bytes} bytes ({self.max_bytes >> 20} MB)",
            )
        if not _SHA.match(h.sha256):
            raise ValidationError("header.sha256", "the hex SHA-256 of the file (64 characters)")
        if not self._uploads.acquire(blocking=False):
            raise QuotaError(f"{MAX_UPLOADS} uploads are in progress; try again shortly")
        try:
            self._reserve(tenant, h.size_bytes)
            try:
                return self._receive(it, h, name, tenant)
            finally:
                self._release(tenant, h.size_bytes)
        finally:
            self._uploads.release()

    def _reserve(self, tenant: str, size: int) -> None:
        with self._lock:
            kept = self.store.list_datasets(tenant)
            count, pending = self._arriving.get(tenant, (0, 0))
            if len(kept) + count >= MAX_DATASETS:
                raise QuotaError(f"{MAX_DATASETS} datasets are stored for this tenant; delete one")
            if sum(d.size_bytes for d in kept) + pending + size > MAX_TENANT_BYTES:
                raise QuotaError(
                    f"this tenant's datasets would pass {MAX_TENANT_BYTES >> 30} GB; delete some"
                )
            self._arriving[tenant] = (count + 1, pending + size)

    def _release(self, tenant: str, size: int) -> None:
        with self._lock:
            count, pending = self._arriving.pop(tenant, (1, size))
            if count > 1:
                self._arriving[tenant] = (count - 1, pending - size)

    def _receive(
        self,
        it: Iterator[study_pb2.UploadDatasetRequest],
        h: study_pb2.DatasetHeader,
        name: str,
        tenant: str,
    ) -> StoredDataset:
        ds_id = f"ds-{uuid.uuid4().hex[:16]}"
        folder = self.folder(tenant)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".incoming-{ds_id}"
        digest, size = hashlib.sha256(), 0
        try:
            with tmp.open("wb") as f:
                for part in it:
                    if part.WhichOneof("part") != "chunk":
                        raise ValidationError("chunk", "only chunks may follow the header")
                    size += len(part.chunk)
                    if size > h.size_bytes:
                        raise ValidationError(
                            "chunk", f"more bytes than the header's size_bytes ({h.size_bytes})"
                        )
                    digest.update(part.chunk)
                    f.write(part.chunk)
            if size != h.size_bytes:
                raise ValidationError(
                    "header.size_bytes", f"the header said {h.size_bytes} bytes, {size} arrived"
                )
            if digest.hexdigest() != h.sha256:
                raise ValidationError(
                    "header.sha256", "the bytes that arrived have another SHA-256: send again"
                )
            final = folder / ds_id / name
            final.parent.mkdir()
            tmp.rename(final)
        finally:
            tmp.unlink(missing_ok=True)
        try:
            return self.store.add_dataset(
                StoredDataset(ds_id, tenant, name, size, h.sha256, str(final), time.time())
            )
        except BaseException:
            shutil.rmtree(final.parent, ignore_errors=True)
            raise

    def list(self, tenant: str) -> list[StoredDataset]:
        return self.store.list_datasets(tenant)

    def delete(self, dataset_id: str, tenant: str) -> StoredDataset:
        d = self.store.get_dataset(_checked_id(dataset_id), tenant)
        ref = SCHEME + d.id
        active = self.store.list_studies(tenant, limit=10_000, states=("queued", "running"))
        users = [s.id for s in active if ref in s.spec_yaml]
        if users:
            raise DatasetInUseError(
                f"dataset_id: {d.id} is read by studies still queued or running: {users}; "
                "wait for them or cancel them first"
            )
        d = self.store.delete_dataset(d.id, tenant)
        shutil.rmtree(Path(d.path).parent, ignore_errors=True)
        return d

    def locate(self, tenant: str, spec: Any) -> Any:
        """``spec`` with every ``dataset://<id>`` of its data section replaced by the
        tenant's stored file (NotFound for an id that is not this tenant's)."""
        fix = {}
        for field in ("csv", "codebook"):  # data.path is data.csv under its newer name
            value = getattr(spec.data, field, None)
            if isinstance(value, str) and value.startswith(SCHEME):
                ds_id = _checked_id(value[len(SCHEME) :], f"data.{field}")
                fix[field] = self.store.get_dataset(ds_id, tenant).path
        if not fix:
            return spec
        return spec.model_copy(update={"data": spec.data.model_copy(update=fix)})


def _checked_id(ds_id: str, field: str = "dataset_id") -> str:
    if not _ID.match(ds_id):
        raise ValidationError(field, f"{ds_id!r} is not a dataset id (ds-<16 hex digits>)")
    return ds_id


def to_proto(d: StoredDataset) -> study_pb2.Dataset:
    return study_pb2.Dataset(
        id=d.id,
        filename=d.filename,
        size_bytes=d.size_bytes,
        sha256=d.sha256,
        created_unix=int(d.created),
    )
