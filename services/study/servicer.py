"""StudyService: the front door (submit, get, watch, list, cancel, results)."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import grpc
import yaml

from silico.core.errors import NotFoundError, ValidationError
from silico.pipeline.orchestrator import STAGES, Orchestrator
from silico.pipeline.spec import parse_spec
from silico.runtime import metrics
from silico.runtime.grpc_server import PermissionDeniedError, QuotaError, UnauthenticatedError
from silico.store import Store, StoredStudy, Tenant
from silico.v1 import common_pb2, study_pb2, study_pb2_grpc

MAX_SPEC_BYTES = 1 << 20
REPORT_CHUNK = 1 << 20
_STATE = {
    "queued": common_pb2.STUDY_STATE_QUEUED,
    "running": common_pb2.STUDY_STATE_RUNNING,
    "succeeded": common_pb2.STUDY_STATE_SUCCEEDED,
    "failed": common_pb2.STUDY_STATE_FAILED,
    "cancelled": common_pb2.STUDY_STATE_CANCELLED,
}


OPEN = Tenant("default", 1 << 30, 1 << 30, 1 << 30)


class StudyServicer(study_pb2_grpc.StudyServiceServicer):
    """The front door.

    With ``auth`` on, every call must carry ``authorization: Bearer <token>``
    of a tenant; a tenant sees only its own studies (others' are NOT_FOUND,
    not FORBIDDEN, so ids leak nothing), and a study may read human data only
    under ``data_root/<tenant>/`` or a ``public_data`` folder.
    """

    def __init__(
        self,
        store: Store,
        orchestrator: Orchestrator,
        auth: bool = False,
        data_root: str | Path | None = None,
        public_data: list[str | Path] | None = None,
    ) -> None:
        self.store = store
        self.orch = orchestrator
        self.auth = auth
        self.data_root = Path(data_root).resolve() if data_root else None
        self.public_data = [Path(p).resolve() for p in public_data or []]

    def _tenant(self, context: Any) -> Tenant:
        if not self.auth:
            return OPEN
        md = dict(context.invocation_metadata() or ())
        header = md.get("authorization", "")
        if not header.startswith("Bearer "):
            raise UnauthenticatedError(
                "missing API token: send metadata 'authorization: Bearer <token>' "
                "(silico --token, SILICO_TOKEN or the config file)"
            )
        tenant = self.store.tenant_for_token(header[len("Bearer ") :].strip())
        if tenant is None:
            raise UnauthenticatedError("invalid API token")
        return tenant

    def _check_data(self, tenant: Tenant, spec: Any) -> None:
        if not self.auth:
            return
        roots = list(self.public_data)
        if self.data_root is not None:
            roots.append(self.data_root / tenant.id)
        for field in ("csv", "codebook"):
            p = Path(getattr(spec.data, field)).resolve()
            if not any(p.is_relative_to(r) for r in roots):
                raise PermissionDeniedError(
                    f"data.{field}: {p.name} is outside this tenant's data folders"
                )

    def _check_quota(self, tenant: Tenant, spec: Any, n_humans: int) -> None:
        if spec.backstories.count > tenant.max_backstories:
            raise QuotaError(
                f"backstories.count {spec.backstories.count} exceeds this tenant's "
                f"limit of {tenant.max_backstories}"
            )
        if n_humans > tenant.max_humans:
            raise QuotaError(
                f"data: {n_humans} respondents exceed this tenant's limit of {tenant.max_humans}"
            )
        if self.store.count_active(tenant.id) >= tenant.max_active_studies:
            raise QuotaError(
                f"{tenant.max_active_studies} studies are already queued or running "
                "(this tenant's limit); wait for one to finish or cancel one"
            )

    def _proto(self, st: StoredStudy) -> common_pb2.Study:
        prog = self.orch.progress.get(st.id, {})
        return common_pb2.Study(
            id=st.id,
            name=st.name,
            state=_STATE[st.state],
            error=st.error,
            progress=[
                common_pb2.StageProgress(stage=s, done=prog[s][0], total=prog[s][1])
                for s in STAGES
                if s in prog
            ],
            created_unix=st.created,
            updated_unix=st.updated,
        )

    def SubmitStudy(self, request: study_pb2.SubmitStudyRequest, context: Any) -> common_pb2.Study:  # noqa: N802
        text = request.spec_yaml
        if not text.strip():
            raise ValidationError("spec_yaml", "is empty")
        if len(text.encode()) > MAX_SPEC_BYTES:
            raise ValidationError("spec_yaml", f"larger than {MAX_SPEC_BYTES} bytes")
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValidationError("spec_yaml", f"not valid YAML: {e}") from None
        tenant = self._tenant(context)
        spec = parse_spec(raw)
        self._check_data(tenant, spec)
        from silico.pipeline.runner import load_humans

        # Bad data paths and columns fail here, before anything is stored.
        humans = load_humans(spec)
        self._check_quota(tenant, spec, humans.n)
        st = self.store.create_study(spec.name, text, tenant=tenant.id)
        self.orch.wake.set()
        return self._proto(st)

    def GetStudy(self, request: study_pb2.GetStudyRequest, context: Any) -> common_pb2.Study:  # noqa: N802
        return self._proto(self.store.get_study(_id(request.study_id), self._tenant(context).id))

    def ListStudies(
        self, request: study_pb2.ListStudiesRequest, context: Any
    ) -> study_pb2.ListStudiesResponse:  # noqa: N802
        limit = request.limit or 100
        if limit < 0 or limit > 10000:
            raise ValidationError("limit", "must be in 0..10000")
        return study_pb2.ListStudiesResponse(
            studies=[
                self._proto(s)
                for s in self.store.list_studies(tenant=self._tenant(context).id, limit=limit)
            ]
        )

    def CancelStudy(self, request: study_pb2.CancelStudyRequest, context: Any) -> common_pb2.Study:  # noqa: N802
        sid = _id(request.study_id)
        before = self.store.get_study(sid, self._tenant(context).id)
        st = self.store.set_state(sid, "cancelled", error="cancelled by request")
        if before.state != st.state:
            metrics.STUDIES.labels("cancelled").inc()
        return self._proto(st)

    def WatchStudy(
        self, request: study_pb2.WatchStudyRequest, context: grpc.ServicerContext
    ) -> Any:  # noqa: N802
        sid = _id(request.study_id)
        tenant = self._tenant(context).id
        last = None
        while context.is_active():
            st = self.store.get_study(sid, tenant)
            p = self._proto(st)
            snapshot = p.SerializeToString()
            if snapshot != last:
                yield study_pb2.StudyEvent(study=p, message=st.stage)
                last = snapshot
            if st.state in ("succeeded", "failed", "cancelled"):
                return
            time.sleep(0.5)

    def GetResults(
        self, request: study_pb2.GetResultsRequest, context: Any
    ) -> study_pb2.GetResultsResponse:  # noqa: N802
        sid = _id(request.study_id)
        st = self.store.get_study(sid, self._tenant(context).id)
        if st.state != "succeeded":
            raise NotFoundError("results of study (state " + st.state + ")", sid)
        doc = self.store.get_result(sid, "metrics", "report")
        usage = [
            common_pb2.Usage(
                stage=s,
                calls=u["calls"],
                prompt_tokens=u["prompt"],
                cached_tokens=u["cached"],
                generated_tokens=u["generated"],
            )
            for s, u in self.store.usage(sid).items()
        ]
        return study_pb2.GetResultsResponse(
            study=self._proto(st), metrics_json=json.dumps(doc), usage=usage
        )

    def GetReport(  # noqa: N802
        self, request: study_pb2.GetReportRequest, context: Any
    ) -> Any:
        sid = _id(request.study_id)
        st = self.store.get_study(sid, self._tenant(context).id)
        if st.state != "succeeded":
            raise NotFoundError("report of study (state " + st.state + ")", sid)
        doc = self.store.get_result(sid, "metrics", "report")
        folder = Path(doc.get("report_dir", ""))
        if not (folder / "report.html").is_file():
            raise NotFoundError("report folder of study", sid)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(folder, arcname=".")
        data = buf.getvalue()
        for i in range(0, len(data), REPORT_CHUNK):
            yield study_pb2.GetReportResponse(chunk=data[i : i + REPORT_CHUNK])


def _id(study_id: str) -> str:
    if not study_id:
        raise ValidationError("study_id", "is required")
    return study_id
