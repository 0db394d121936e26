"""The study API's logic: submit, read, watch, cancel, results and the report archive."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from silico.core.errors import NotFoundError, QuotaError, ValidationError
from silico.pipeline.registry import PROGRESS
from silico.pipeline.runner import load_humans
from silico.pipeline.spec import load_yaml, parse_spec
from silico.platform.datasets import Datasets
from silico.platform.orchestrator import Orchestrator
from silico.platform.tenancy import Tenancy
from silico.runtime import telemetry
from silico.store import Store, StoredStudy, Tenant
from silico.v1 import common_pb2, study_pb2

MAX_SPEC_BYTES = 1 << 20
#: Watchers at once; the study server has threads for them and SERVER_THREADS more.
MAX_WATCHERS = 200
#: Threads the study server keeps for every call that is not a watcher.
SERVER_THREADS = 16
REPORT_CHUNK = 1 << 20
FINAL = ("succeeded", "failed", "cancelled")
_PROTO_STATE = {
    "queued": common_pb2.STUDY_STATE_QUEUED,
    "running": common_pb2.STUDY_STATE_RUNNING,
    "succeeded": common_pb2.STUDY_STATE_SUCCEEDED,
    "failed": common_pb2.STUDY_STATE_FAILED,
    "cancelled": common_pb2.STUDY_STATE_CANCELLED,
}


def study_id(value: str) -> str:
    if not value:
        raise ValidationError("study_id", "is required")
    return value


class Studies:
    """A tenant sees only its own studies (others' are NOT_FOUND, not FORBIDDEN, so ids
    leak nothing)."""

    def __init__(
        self,
        store: Store,
        orch: Orchestrator,
        tenancy: Tenancy,
        datasets: Datasets | None = None,
    ) -> None:
        self.store = store
        self.orch = orch
        self.tenancy = tenancy
        self.datasets = datasets
        self._watchers = threading.BoundedSemaphore(MAX_WATCHERS)

    def proto(self, st: StoredStudy) -> common_pb2.Study:
        prog = self.orch.progress.get(st.id, {})
        return common_pb2.Study(
            id=st.id,
            name=st.name,
            state=_PROTO_STATE[st.state],
            error=st.error,
            progress=[
                common_pb2.StageProgress(stage=s, done=prog[s][0], total=prog[s][1])
                for s in PROGRESS
                if s in prog
            ],
            created_unix=st.created,
            updated_unix=st.updated,
        )

    def submit(self, text: str, tenant: Tenant) -> StoredStudy:
        if not text.strip():
            raise ValidationError("spec_yaml", "is empty")
        if len(text.encode()) > MAX_SPEC_BYTES:
            raise ValidationError("spec_yaml", f"larger than {MAX_SPEC_BYTES} bytes")
        # Routes to a model server the deployment does not allow fail here, by field.
        resolved = self.orch.resolve(parse_spec(load_yaml(text, "spec_yaml")))
        spec = self.orch.locate(tenant.id, resolved)  # dataset://<id>: this tenant's only
        self.tenancy.check_data(tenant, spec)
        self.tenancy.check_spec(tenant, spec)  # before the data is read
        # Bad data paths and columns fail here, before anything is stored.
        humans = load_humans(spec)
        self.tenancy.check_humans(tenant, humans.n)
        # The active-study limit again, in the insert's own transaction: concurrent
        # submissions cannot pass it together.
        # Stored resolved: a restart after the deployment's models change goes on
        # with the models the study began with (or fails saying so), never mixes them.
        # Its datasets stay references, located again (and re-checked) on load.
        st = self.store.create_study(
            spec.name,
            yaml.safe_dump(resolved.model_dump(mode="json", exclude_unset=False)),
            tenant=tenant.id,
            max_active=tenant.max_active_studies,
        )
        self.orch.wake.set()
        return st

    def get(self, sid: str, tenant: Tenant) -> StoredStudy:
        return self.store.get_study(study_id(sid), tenant.id)

    def list(self, tenant: Tenant, limit: int) -> list[StoredStudy]:
        limit = limit or 100
        if limit < 0 or limit > 10000:
            raise ValidationError("limit", "must be in 0..10000")
        return self.store.list_studies(tenant=tenant.id, limit=limit)

    def cancel(self, sid: str, tenant: Tenant) -> StoredStudy:
        before = self.get(sid, tenant)
        st = self.store.set_state(before.id, "cancelled", error="cancelled by request")
        if before.state != st.state:
            telemetry.STUDIES.labels("cancelled").inc()
        self.orch.changes.bump(st.id)
        return st

    def watch(
        self,
        sid: str,
        tenant: Tenant,
        active: Callable[[], bool],
        recheck: float = 10.0,
    ) -> Iterator[study_pb2.StudyEvent]:
        """An event whenever the study's state, stage or progress changes, until it ends.

        The store is read when the orchestrator announces a change (and every
        ``recheck`` seconds, for changes made elsewhere); in between the watcher
        sleeps. At most :data:`MAX_WATCHERS` watch at once, so watchers can never
        take every server thread from the other calls.
        """
        if not self._watchers.acquire(blocking=False):
            raise QuotaError(f"{MAX_WATCHERS} watchers already; poll GetStudy instead")
        try:
            st = self.get(sid, tenant)
            last = None
            seen, checked = -1, 0.0
            while active():
                version = self.orch.changes.version(st.id)
                if version != seen or time.monotonic() - checked > recheck:
                    seen, checked = version, time.monotonic()
                    st = self.get(sid, tenant)
                    p = self.proto(st)
                    snapshot = (p.SerializeToString(), st.stage)
                    if snapshot != last:
                        yield study_pb2.StudyEvent(study=p, message=st.stage)
                        last = snapshot
                    if st.state in FINAL:
                        return
                # Wakes at a change, or after a second to notice a client gone away.
                self.orch.changes.wait(st.id, seen, 1.0)
        finally:
            self._watchers.release()

    def _succeeded(self, sid: str, tenant: Tenant, what: str) -> tuple[StoredStudy, Any]:
        st = self.get(sid, tenant)
        if st.state != "succeeded":
            raise NotFoundError(f"{what} of study (state {st.state})", st.id)
        return st, self.store.get_result(st.id, "metrics", "report")

    def results(self, sid: str, tenant: Tenant) -> study_pb2.GetResultsResponse:
        st, doc = self._succeeded(sid, tenant, "results")
        usage = [
            common_pb2.Usage(
                stage=s,
                calls=u["calls"],
                prompt_tokens=u["prompt"],
                cached_tokens=u["cached"],
                generated_tokens=u["generated"],
            )
            for s, u in self.store.usage(st.id).items()
        ]
        return study_pb2.GetResultsResponse(
            study=self.proto(st), metrics_json=json.dumps(doc), usage=usage
        )

    def report_chunks(self, sid: str, tenant: Tenant) -> Iterator[bytes]:
        """The report folder as a .tar.gz, in chunks a gRPC message can carry."""
        st, doc = self._succeeded(sid, tenant, "report")
        folder = Path(doc.get("report_dir", ""))
        if not (folder / "report.html").is_file():
            raise NotFoundError("report folder of study", st.id)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(folder, arcname=".")
        data = buf.getvalue()
        for i in range(0, len(data), REPORT_CHUNK):
            yield data[i : i + REPORT_CHUNK]
