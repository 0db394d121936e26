"""StudyService: the front door (submit, get, watch, list, cancel, results)."""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import yaml

from silico.core.errors import NotFoundError, ValidationError
from silico.pipeline.orchestrator import STAGES, Orchestrator
from silico.pipeline.spec import parse_spec
from silico.store import Store, StoredStudy
from silico.v1 import common_pb2, study_pb2, study_pb2_grpc

MAX_SPEC_BYTES = 1 << 20
_STATE = {
    "queued": common_pb2.STUDY_STATE_QUEUED,
    "running": common_pb2.STUDY_STATE_RUNNING,
    "succeeded": common_pb2.STUDY_STATE_SUCCEEDED,
    "failed": common_pb2.STUDY_STATE_FAILED,
    "cancelled": common_pb2.STUDY_STATE_CANCELLED,
}


class StudyServicer(study_pb2_grpc.StudyServiceServicer):
    def __init__(self, store: Store, orchestrator: Orchestrator) -> None:
        self.store = store
        self.orch = orchestrator

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
        spec = parse_spec(raw)
        from silico.pipeline.runner import load_humans

        load_humans(spec)  # bad data paths and columns fail here, before anything is stored
        st = self.store.create_study(spec.name, text)
        self.orch.wake.set()
        return self._proto(st)

    def GetStudy(self, request: study_pb2.GetStudyRequest, context: Any) -> common_pb2.Study:  # noqa: N802
        return self._proto(self.store.get_study(_id(request.study_id)))

    def ListStudies(
        self, request: study_pb2.ListStudiesRequest, context: Any
    ) -> study_pb2.ListStudiesResponse:  # noqa: N802
        limit = request.limit or 100
        if limit < 0 or limit > 10000:
            raise ValidationError("limit", "must be in 0..10000")
        return study_pb2.ListStudiesResponse(
            studies=[self._proto(s) for s in self.store.list_studies(limit=limit)]
        )

    def CancelStudy(self, request: study_pb2.CancelStudyRequest, context: Any) -> common_pb2.Study:  # noqa: N802
        sid = _id(request.study_id)
        self.store.get_study(sid)
        return self._proto(self.store.set_state(sid, "cancelled", error="cancelled by request"))

    def WatchStudy(
        self, request: study_pb2.WatchStudyRequest, context: grpc.ServicerContext
    ) -> Any:  # noqa: N802
        sid = _id(request.study_id)
        last = None
        while context.is_active():
            st = self.store.get_study(sid)
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
        st = self.store.get_study(sid)
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


def _id(study_id: str) -> str:
    if not study_id:
        raise ValidationError("study_id", "is required")
    return study_id
